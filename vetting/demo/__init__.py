"""``vet demo``: the whole chain on the bundled fictional demo web, as fictional accounts."""
