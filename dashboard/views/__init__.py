"""Dashboard pages (HTML). Thin: parse a form, call one service or the page's selector, render.

Every page is for signed-in staff (accounts.dashboard_access.staff_required); every change goes
through the service the JSON API calls, audited with the signed-in user as the actor.
"""
