"""The documentation UI (/schema/swagger), served with no internet.

Litestar's render plugins load their scripts, styles and favicon from CDNs,
so the page is blank offline. Swagger UI's files come from the
``swagger-ui-bundle-v2`` package instead (Swagger UI's own release, packaged
by the Connexion maintainers) and are served beside the schema. No other UI
is offered: each would need its own bundle.
"""

from __future__ import annotations

from litestar import Router
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path

# Under /schema, like the page itself: the rate limit leaves it out, and the
# OpenAPI document does not list it.
ASSETS = "/schema/assets"


def swagger_ui() -> SwaggerRenderPlugin:
    return SwaggerRenderPlugin(
        js_url=f"{ASSETS}/swagger-ui-bundle.js",
        css_url=f"{ASSETS}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS}/favicon-32x32.png'>",
    )


def swagger_assets() -> Router:
    return create_static_files_router(path=ASSETS, directories=[swagger_ui_path],
                                      name="swagger-ui-assets", include_in_schema=False)
