"""Pages (``urlpatterns``) and API endpoints (``api_urlpatterns``) of this part; wired in
``motcua/urls.py``."""

urlpatterns = []
api_urlpatterns = []
