"""The shipped written process and its site manifests, installed as ``vetting.procedures``;
see ``vetting/domain/bundled.py``."""
