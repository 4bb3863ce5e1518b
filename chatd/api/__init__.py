"""REST views, their marshmallow schemas, and the OpenAPI document."""
