"""The ``guardia`` command.  ``main`` wires subcommands; each lives in its own module."""
