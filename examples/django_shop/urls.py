"""The example's URLs."""

from __future__ import annotations

from django.urls import path

from django_shop import views

urlpatterns = [
    path("signup", views.signup),
    path("orders", views.place_order),
]
