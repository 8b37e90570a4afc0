// Package maketest tests the Makefile's own logic where it decides whether a
// gate passes: `make fuzz`, which `make test` runs, against a stand-in for the
// go command, so that every outcome can be forced; and that `make run` stops
// everything it started when make itself is stopped.
package maketest
