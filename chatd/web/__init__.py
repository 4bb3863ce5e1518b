"""HTTP plumbing shared by every REST view: errors, parsing, OpenAPI, auth, pages."""
