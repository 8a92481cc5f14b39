from __future__ import annotations

from django.db import models


class Item(models.Model):
    name = models.CharField(max_length=80)
    price = models.FloatField()

    class Meta:
        app_label = "django_items"
        db_table = "items"
