"""The pages of the web application, one module per group; each module's ``PAGES`` list is its
part of the route table (:data:`vetting.web.app.PAGE_MODULES` names them in order)."""
