"""`orchard`: every run of a deployed Orchard stack in the terminal (runs, show, logs, start), with the user's AWS
credentials."""
