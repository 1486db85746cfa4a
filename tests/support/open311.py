"""What the GeoReport v2 specification says a service request carries, written from the spec
(not from our code), for the unit and integration tests of the Open311 routes."""

from __future__ import annotations

REQUEST_FIELDS = frozenset(
    {
        "service_request_id",
        "status",
        "status_notes",
        "service_name",
        "service_code",
        "description",
        "agency_responsible",
        "service_notice",
        "requested_datetime",
        "updated_datetime",
        "expected_datetime",
        "address",
        "address_id",
        "zipcode",
        "lat",
        "long",
        "media_url",
    }
)
