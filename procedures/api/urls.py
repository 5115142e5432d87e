from rest_framework.routers import SimpleRouter

from procedures.api.views import ProcedureViewSet

# SimpleRouter: no format-suffix routes, which would read the dots of a procedure code as ".json".
router = SimpleRouter()
router.register("procedures", ProcedureViewSet, basename="api-procedure")

urlpatterns = router.urls
