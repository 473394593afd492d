"""``/v2/account-info`` and ``/v2/data-fields``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dotsync.emulator.binding import account_of, ci, json_body, reply, run, store_of
from dotsync.emulator.gateway import external_base
from dotsync.emulator.values import canonical_enum


async def account_info(request: Request) -> Response:
    account = account_of(request)
    base = external_base(request.scope)
    endpoint = base if account.region == "r1" else f"{base}/{account.region}"
    used, remaining = request.app.state.emulator.limiter.usage(account.api_user)
    properties = {
        "Name": account.api_user.split("@")[0],
        "MainEmail": account.api_user,
        "ApiEndpoint": endpoint,
        "ApiCallsInLastHour": str(used),
        "ApiCallsRemaining": str(remaining),
        "TimeZoneIana": "Europe/London",
        "Region": account.region,
    }
    return reply(
        {
            "id": account.id,
            "properties": [
                {"name": name, "type": "String", "value": value}
                for name, value in properties.items()
            ],
        }
    )


async def list_data_fields(request: Request) -> Response:
    return reply(await run(store_of(request).list_data_fields, account_of(request)))


async def create_data_field(request: Request) -> Response:
    body = ci(await json_body(request))
    kind = canonical_enum(body.get("type"), ("String", "Numeric", "Date", "Boolean"), "String")
    visibility = canonical_enum(body.get("visibility"), ("Private", "Public"), "Private")
    created = await run(
        store_of(request).create_data_field,
        account_of(request),
        str(body.get("name") or ""),
        kind,
        visibility,
        body.get("defaultvalue"),
    )
    # v2-full documents a bare 201, the docs spec a 201 with the field: send the field.
    return reply(created, 201)


async def delete_data_field(request: Request) -> Response:
    await run(store_of(request).delete_data_field, account_of(request), request.path_params["name"])
    return reply({"dependencies": [], "result": True})


ROUTES = [
    Route("/v2/account-info", account_info, methods=["GET"]),
    Route("/v2/data-fields", list_data_fields, methods=["GET"]),
    Route("/v2/data-fields", create_data_field, methods=["POST"]),
    Route("/v2/data-fields/{name}", delete_data_field, methods=["DELETE"]),
]
