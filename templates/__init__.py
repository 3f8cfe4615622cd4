"""The report templates (Jinja2), installed as ``vetting.templates``; see ``vetting/domain/bundled.py``."""
