"""The error body every API endpoint answers with, as the OpenAPI document shows it."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorDetailSerializer(serializers.Serializer):
    field = serializers.CharField()
    type = serializers.CharField()
    message = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    status = serializers.IntegerField()
    type = serializers.CharField()
    message = serializers.CharField()
    details = ErrorDetailSerializer(many=True, required=False)


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """OpenAPI responses for ``codes``, each with the error body."""
    return {code: OpenApiResponse(ErrorSerializer) for code in codes}
