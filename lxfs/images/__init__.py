"""Images: creating (init, --from-host, the default image), importing (tar or host directory),
exporting (PAX tar) and describing lxfs images. Every write into an image goes through the VFS."""

from lxfs.images.entries import Warn
from lxfs.images.ops import (
    ImportResult,
    ToolError,
    default_image_path,
    ensure_default_image,
    export_image,
    image_info,
    import_into,
    init_image,
)

__all__ = [
    "ImportResult",
    "ToolError",
    "Warn",
    "default_image_path",
    "ensure_default_image",
    "export_image",
    "image_info",
    "import_into",
    "init_image",
]
