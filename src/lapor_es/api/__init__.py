"""The HTTP door (`lapor-es serve`): FastAPI on uvicorn, built by `app.create_app(door)`.

FastAPI because it is pydantic-native like our command models, generates OpenAPI 3.1 from
the routes (docs/openapi.json, fuzzed by schemathesis), and its dependencies hand each route
the authenticated caller. One router per concern (routes/); the routes stay thin: check who
is asking and whether they may touch this object, call the service layer or a read-model
query, map errors to RFC 9457 problems (problems.py).
"""
