"""JSON schemas and per-route descriptions that the OpenAPI document is assembled from.

Routes are described by method and path template; the paths, methods and parameters in the
document come from the application's router, so a route that is not served is never described.
"""

from __future__ import annotations

from typing import Any

JSON = "application/json"
ANY_JSON: dict[str, Any] = {"description": "any JSON value"}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}},
    },
    "FailureEnvelope": {
        "type": "object",
        "description": "A failed REST exec, as PlaceOS renders it; every key is present.",
        "required": ["error", "sys_id", "module_name", "index", "message", "backtrace"],
        "properties": {
            "error": {"type": "string"},
            "sys_id": {"type": "string"},
            "module_name": {"type": "string"},
            "index": {"type": "integer"},
            "message": {"type": "string"},
            "backtrace": {"type": ["array", "null"], "items": {"type": "string"}},
        },
    },
    "SystemSummary": {
        "type": "object",
        "required": ["id", "name", "modules"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "description": {"type": "string"},
            "modules": {"type": "array", "items": {"type": "string"}},
        },
    },
    "ModuleData": {
        "type": "object",
        "required": ["id", "name", "driver", "state", "index"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "driver": {"type": "string", "description": "import path package.module:Class"},
            "running": {"type": "boolean"},
            "state": {"type": "string"},
            "error": {"type": "string"},
            "index": {"type": ["integer", "null"], "minimum": 1},
        },
    },
    "System": {
        "allOf": [
            ref("SystemSummary"),
            {
                "type": "object",
                "required": ["module_data"],
                "properties": {"module_data": {"type": "array", "items": ref("ModuleData")}},
            },
        ]
    },
    "StatusMap": {
        "type": "object",
        "description": "status name -> its value, JSON-encoded as a string",
        "additionalProperties": {"type": "string"},
    },
    "Functions": {
        "type": "object",
        "description": "function name -> its parameters, for the caller's clearance",
        "additionalProperties": {
            "type": "object",
            "required": ["arity", "params", "order"],
            "properties": {
                "arity": {"type": "integer", "minimum": 0},
                "params": {"type": "object", "additionalProperties": {"type": "object"}},
                "order": {"type": "array", "items": {"type": "string"}},
            },
        },
    },
    "Authority": {
        "type": "object",
        "required": ["id", "name", "domain", "login_url", "logout_url", "session", "version"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "description": {"type": "string"},
            "domain": {"type": "string"},
            "login_url": {"type": "string"},
            "logout_url": {"type": "string"},
            "session": {"type": "boolean", "const": False},
            "production": {"type": "boolean"},
            "config": {"type": "object"},
            "version": {"type": "string", "pattern": r"^3\."},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string", "const": "ok"}},
    },
    "Readiness": {
        "type": "object",
        "required": ["ready", "modules"],
        "properties": {
            "ready": {"type": "boolean"},
            "modules": {"type": "object", "additionalProperties": {"type": "integer"}},
        },
    },
    "Cluster": {
        "type": "object",
        "required": ["node", "version", "nodes", "owners"],
        "properties": {
            "node": {"type": "string"},
            "version": {"type": "string"},
            "nodes": {"type": "array", "items": {"type": "object"}},
            "owners": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
}

UNAUTHORIZED = json_response("missing or unknown credential", ref("Error"))
TOO_MANY = {
    "description": "too many failed authentications from this address, or too many connections "
    "with this credential; see Retry-After",
    "headers": {"Retry-After": {"schema": {"type": "string"}}},
    "content": {JSON: {"schema": ref("Error")}},
}
NOT_FOUND = json_response("no such system or module", ref("Error"))

PARAMETERS: dict[str, str] = {
    "name": "file name",
    "sys": "system id",
    "slug": "module as Name_Index (Display_1); a bare name means index 1",
    "key": "status name",
    "method": "command (public function) of the driver",
}

#: Routes that upgrade to a WebSocket: (method, path) -> what they serve.
WEBSOCKET_ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/api/engine/v2/systems/control"): "the control protocol: bind, unbind, exec, debug, "
    "ignore and text ping/pong, one JSON request per text frame",
    ("GET", "/api/engine/v2/cluster/channel"): "host-to-host exec channel of a cluster (the "
    "cluster secret as a bearer token): length-prefixed binary records, many execs in flight",
}

#: (method, path template) -> operation: summary, responses, and optionally requestBody / public.
OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/auth/authority"): {
        "public": True,
        "responses": {
            "200": json_response("what @placeos/ts-client loads first", ref("Authority"))
        },
    },
    ("GET", "/api/engine/v2/openapi.json"): {
        "public": True,
        "responses": {"200": json_response("this document", {"type": "object"})},
    },
    ("GET", "/api/engine/v2/systems"): {
        "responses": {
            "200": json_response("every system", {"type": "array", "items": ref("SystemSummary")})
        },
    },
    ("GET", "/api/engine/v2/systems/{sys}"): {
        "responses": {"200": json_response("the system", ref("System")), "404": NOT_FOUND},
    },
    ("GET", "/api/engine/v2/systems/{sys}/types"): {
        "responses": {
            "200": json_response(
                "module name -> how many modules of that name",
                {"type": "object", "additionalProperties": {"type": "integer", "minimum": 1}},
            ),
            "404": NOT_FOUND,
        },
    },
    ("GET", "/api/engine/v2/systems/{sys}/functions/{slug}"): {
        "responses": {"200": json_response("the functions", ref("Functions")), "404": NOT_FOUND},
    },
    ("GET", "/api/engine/v2/systems/{sys}/{slug}"): {
        "responses": {
            "200": json_response(
                "the module's status (empty when it does not exist)", ref("StatusMap")
            )
        },
    },
    ("GET", "/api/engine/v2/systems/{sys}/{slug}/{key}"): {
        "responses": {"200": json_response("the value, or null when unset", ANY_JSON)},
    },
    ("POST", "/api/engine/v2/systems/{sys}/{slug}/{method}"): {
        "requestBody": {
            "required": False,
            "description": "positional arguments (array) or named arguments (object)",
            "content": {
                JSON: {
                    "schema": {"anyOf": [{"type": "array"}, {"type": "object"}]},
                    "examples": {
                        "positional": {"value": [7]},
                        "named": {"value": {"level": 7}},
                    },
                }
            },
        },
        "responses": {
            "200": json_response("the command's result as raw JSON", ANY_JSON),
            "400": json_response(
                "bad body, unknown function or arguments that do not fit", ref("FailureEnvelope")
            ),
            "401": json_response(
                "missing credential, or the function needs a higher clearance",
                {"anyOf": [ref("Error"), ref("FailureEnvelope")]},
            ),
            "404": json_response("no such system or module", ref("FailureEnvelope")),
            "default": json_response(
                "the command failed (the driver's code, else 500)", ref("FailureEnvelope")
            ),
        },
    },
    ("GET", "/"): {
        "public": True,
        "responses": {"200": {"description": "the web console", "content": {"text/html": {}}}},
    },
    ("GET", "/console/"): {
        "public": True,
        "responses": {"200": {"description": "the web console", "content": {"text/html": {}}}},
    },
    ("GET", "/console/{name}"): {
        "public": True,
        "responses": {
            "200": {"description": "one of the console's files (script, style sheet, page)"},
            "404": {"description": "not one of the console's files"},
        },
    },
    ("GET", "/healthz"): {
        "public": True,
        "responses": {"200": json_response("the process serves", ref("Health"))},
    },
    ("GET", "/readyz"): {
        "public": True,
        "responses": {
            "200": json_response("start-up is over", ref("Readiness")),
            "503": json_response("still starting", ref("Readiness")),
        },
    },
    ("GET", "/metrics"): {
        "public": False,  # unless server.public_metrics
        "responses": {
            "200": {
                "description": "Prometheus text format",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
    },
    ("GET", "/api/engine/v2/cluster"): {
        "responses": {
            "200": json_response("the cluster's nodes and module owners", ref("Cluster")),
            "403": json_response("admin only", ref("Error")),
        },
    },
}
