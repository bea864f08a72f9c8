"""Views that enqueue tasks with the blocking facade (Django views are sync).

- ``signup``: creates a user and enqueues ``send_welcome`` **when the transaction
  commits** (``transaction.on_commit``): never for a rolled-back signup, and never
  before the user is visible to the worker. Works whatever the databases are.
- ``place_order``: on PostgreSQL (Django and wg on the same database), the job is
  written **inside** the transaction, through Django's own connection
  (``with_options(connection=...)``): it exists if and only if the order does — even
  if the process dies between the commit and an ``on_commit`` callback.
"""

from __future__ import annotations

import json

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse

from django_shop.tasks import send_welcome, ship_order


def signup(request: HttpRequest) -> HttpResponse:
    data = json.loads(request.body)
    with transaction.atomic():
        user = User.objects.create_user(data["username"], email=data["email"])
        transaction.on_commit(lambda: send_welcome.blocking.enqueue(user.pk))
        if data.get("fail"):
            raise ValueError("signup failed after the user was created")
    return JsonResponse({"user_id": user.pk}, status=201)


def place_order(request: HttpRequest) -> HttpResponse:
    data = json.loads(request.body)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO shop_orders (total) VALUES (%s) RETURNING id", [data["total"]]
            )
            (order_id,) = cursor.fetchone()
        # Django's psycopg connection: the job is part of this transaction.
        job_id = ship_order.with_options(connection=connection.connection).blocking.enqueue(
            order_id
        )
        if data.get("fail"):
            raise ValueError("the order failed after the job was enqueued")
    return JsonResponse({"order_id": order_id, "job_id": job_id}, status=201)
