"""The public link routes a program can use, in the OpenAPI schema under the `public` tag.

They are plain Django views (pages for browsers, answers for programs), so drf-spectacular does
not see them: `public_paths()` describes them by hand, and `add_public_routes` (a drf-spectacular
hook, in SPECTACULAR_SETTINGS) adds them to the document. Their errors answer the API's error
shape when the client asks for JSON (`Accept: application/json`, locker.errors.answers_json); the
upload answers JSON always.
"""

ERROR = {"$ref": "#/components/schemas/Error"}
TAG = "public"
TOKEN = {
    "name": "token",
    "in": "path",
    "required": True,
    "description": "The link's token: the last part of its URL (`url` in the API's answers).",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{16,128}$"},
}
PASSWORD_HEADER = {
    "name": "X-Share-Password",
    "in": "header",
    "required": False,
    "description": "The link's password, for a protected link: it unlocks this request only "
    "(wrong ones are throttled per link and network, as the form's).",
    "schema": {"type": "string"},
}
ACCEPT_JSON = {
    "name": "Accept",
    "in": "header",
    "required": False,
    "description": "`application/json` to get refusals as the error object (without it, a "
    "browser's page).",
    "schema": {"type": "string", "example": "application/json"},
}
RETRY_AFTER = {
    "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."},
}


def _error(description: str, **extra) -> dict:
    return {"description": description, "content": {"application/json": {"schema": ERROR}}, **extra}


LINK_ERRORS = {
    "404": _error("No such link (or a token that was mistyped)."),
    "410": _error("The link expired, was revoked, or reached its limit; `detail` says which."),
    "429": _error("Too many wrong passwords from your network.", headers=RETRY_AFTER),
    "503": _error("A part of the service is unavailable.", headers=RETRY_AFTER),
}

UNLOCK = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["password"],
                    "properties": {"password": {"type": "string"}},
                }
            }
        },
    },
    "responses": {
        "303": {
            "description": "Unlocked: a cookie for this link (`Set-Cookie`), and the link's "
            "page in `Location`. Programs may send `X-Share-Password` with each request "
            "instead.",
        },
        "401": _error("The password is not correct (`code` `wrong_password`)."),
        "403": _error("The form came from another site (Origin or Sec-Fetch-Site)."),
        **LINK_ERRORS,
    },
}


def public_paths() -> dict:
    return {
        "/s/{token}": {
            "post": {
                "operationId": "public_share_unlock",
                "summary": "Unlock a password-protected share link",
                "description": "The page's password form, for a program too (send "
                "`Accept: application/json` to get a refusal as JSON).",
                "tags": [TAG],
                "security": [{}],
                "parameters": [TOKEN, ACCEPT_JSON],
                **UNLOCK,
            }
        },
        "/s/{token}/download": {
            "get": {
                "operationId": "public_share_download",
                "summary": "Download through a share link",
                "description": "A file share: the file (one `Range` answers 206; 416 when it "
                "cannot be satisfied). A folder share: the folder as a streamed ZIP, or with "
                "`item` (opaque ids from the share's page) a selection of it; at most 1,000 "
                "items. Counted as a download (a link with `max_downloads` stops at its "
                "limit). Not for a preview-only link (`allow_download` false): 403.",
                "tags": [TAG],
                "security": [{}],
                "parameters": [
                    TOKEN,
                    PASSWORD_HEADER,
                    ACCEPT_JSON,
                    {
                        "name": "item",
                        "in": "query",
                        "required": False,
                        "description": "Folder shares: the opaque ids of the files and "
                        "folders to put in the ZIP (repeat it).",
                        "schema": {"type": "array", "items": {"type": "string"}},
                        "explode": True,
                    },
                    {
                        "name": "Range",
                        "in": "header",
                        "required": False,
                        "description": "File shares: `bytes=a-b`.",
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "The file (its own type), or the ZIP of a folder share.",
                        "content": {
                            "application/octet-stream": {
                                "schema": {"type": "string", "format": "binary"}
                            },
                            "application/zip": {"schema": {"type": "string", "format": "binary"}},
                        },
                    },
                    "206": {
                        "description": "The range asked for, of a file share.",
                        "content": {
                            "application/octet-stream": {
                                "schema": {"type": "string", "format": "binary"}
                            }
                        },
                    },
                    "400": _error("Too many `item`s, or one that is not in this share."),
                    "401": _error(
                        "The link has a password: send it in `X-Share-Password`.",
                        headers={
                            "WWW-Authenticate": {
                                "schema": {"type": "string"},
                                "description": '`X-Share-Password realm="share"`',
                            }
                        },
                    ),
                    "403": _error("The link allows viewing only, not downloading."),
                    "409": _error("The file is not available right now (being checked)."),
                    "416": {"description": "Range not satisfiable (`Content-Range: */size`)."},
                    **LINK_ERRORS,
                },
            }
        },
        "/r/{token}": {
            "post": {
                "operationId": "public_upload_link_unlock",
                "summary": "Unlock a password-protected upload link",
                "description": "The page's password form, for a program too (send "
                "`Accept: application/json` to get a refusal as JSON).",
                "tags": [TAG],
                "security": [{}],
                "parameters": [TOKEN, ACCEPT_JSON],
                **UNLOCK,
            }
        },
        "/r/{token}/upload": {
            "post": {
                "operationId": "public_upload_link_upload",
                "summary": "Upload through an upload link",
                "description": "Multipart `file` parts (`Content-Length` required), into the "
                "link's folder; `batch` and `path` (before the file parts, or in the query "
                "string) put them into a folder below it. Within the link's limits (files, "
                "size per file) and its owner's quota. Answers JSON always.",
                "tags": [TAG],
                "security": [{}],
                "parameters": [TOKEN, PASSWORD_HEADER],
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {"$ref": "#/components/schemas/PublicUploadRequest"}
                        }
                    },
                },
                "responses": {
                    "201": {
                        "description": "Stored.",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/PublicUploadResult"}
                            }
                        },
                    },
                    "400": _error("A refused name or path, or a forged `batch`."),
                    "401": _error("The link has a password: send it in `X-Share-Password`."),
                    "409": _error("A file has the name of a folder of `path`."),
                    "411": _error("`Content-Length` is missing."),
                    "413": _error("A file is larger than the link allows."),
                    "415": _error("Not a multipart body."),
                    "507": _error("The owner's quota is full; nothing was stored."),
                    **LINK_ERRORS,
                    "429": _error(
                        "Too many wrong passwords, or uploads in progress on this link take "
                        "all the room it allows (`Retry-After`: when the oldest lapses).",
                        headers=RETRY_AFTER,
                    ),
                },
            }
        },
    }


def public_components() -> dict:
    return {
        "PublicUploadRequest": {
            "type": "object",
            "required": ["file"],
            "properties": {
                "file": {
                    "type": "array",
                    "items": {"type": "string", "format": "binary"},
                    "description": "One or more file parts.",
                },
                "batch": {"type": "string", "description": "The upload page's batch token."},
                "path": {"type": "string", "description": "Folder names separated by `/`."},
            },
        },
        "PublicUploadResult": {
            "type": "object",
            "required": ["files", "files_left"],
            "properties": {
                "files": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "size"],
                        "properties": {
                            "name": {"type": "string"},
                            "size": {"type": "integer"},
                        },
                    },
                },
                "files_left": {
                    "type": "integer",
                    "nullable": True,
                    "description": "How many more files the link takes; null without a limit.",
                },
            },
        },
    }


def add_public_routes(result, generator, request, public):
    """drf-spectacular hook: the public link routes, under the `public` tag."""
    result.setdefault("paths", {}).update(public_paths())
    result.setdefault("components", {}).setdefault("schemas", {}).update(public_components())
    result.setdefault("tags", []).append(
        {
            "name": TAG,
            "description": "The routes of share links (`/s/…`) and upload links (`/r/…`): no "
            "account, the link's token (and password) only.",
        }
    )
    return result
