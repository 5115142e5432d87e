"""The second factor's pages (motcua/twofactor.py): the code after the password, the enrolment.

Included from motcua/urls.py under ``staff/``: ``staff/login/code/``, ``staff/two-factor/``.
"""

from django.urls import path

from motcua import twofactor

urlpatterns = [
    path("login/code/", twofactor.code_view, name="login-code"),
    path("two-factor/", twofactor.enrol_view, name="two-factor-enrol"),
]
