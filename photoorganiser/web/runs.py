"""(placeholder: filled in by the page's own work)"""

routes: list = []
