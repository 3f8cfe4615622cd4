"""Running the written process: every case runs every step, in order; collection inside one reactor."""
