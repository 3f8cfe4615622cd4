"""``vet``: the command line, a thin shell over :mod:`vetting.services`."""
