"""Checks on images and audio before they are forwarded to OpenRouter (API.md "Vision and audio")."""

import base64
import binascii
from urllib.parse import urlsplit

from core.errors import InvalidRequestError, RequestTooLargeError
from services.cooperative import in_slices

AUDIO_FORMATS = ("wav", "mp3", "flac", "m4a", "ogg", "aac", "aiff")
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif")

MAX_URL_CHARS = 8192
# Declared names callers commonly use for a supported format; kept small on purpose.
AUDIO_ALIASES = {"mpeg": "mp3", "aif": "aiff", "oga": "ogg", "mp4": "m4a"}
DATA_URL_TYPES = {
    "image/png": "image/png",
    "image/jpeg": "image/jpeg",
    "image/jpg": "image/jpeg",
    "image/webp": "image/webp",
    "image/gif": "image/gif",
}
# ISO BMFF brands that carry AAC/ALAC audio in an M4A-style container.
M4A_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"mp41", b"mp42", b"isom", b"iso2", b"dash"}
MPEG_SYNC_MASK = 0xE0
ADTS_SYNC_MASK = 0xF6  # 12 sync bits plus the two layer bits, which ADTS fixes at 00
WHITESPACE = b" \t\r\n\f\v"
# Base64 characters handled between two yields to the worker's other calls (about 2 ms of CPU each); a
# multiple of 4, so every slice decodes on its own.
SLICE = 1 << 20
URL_RULE = "only http(s) URLs and data:image/<png|jpeg|webp|gif>;base64 URLs are accepted"


def _bad(field, message, detail=None):
    """A 400 naming the field by its dotted path."""
    return InvalidRequestError(message, details={field: [detail or message]})


def _too_large(field, size, max_bytes, about=""):
    """A 413 naming the field and the limit."""
    message = f"{field} is {about}{size} bytes; the limit is {max_bytes} bytes"
    return RequestTooLargeError(message, details={field: [message]})


def sniff_image(data: bytes) -> str | None:
    """The image media type the magic numbers announce, or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _is_m4a(data):
    """True for an ISO BMFF `ftyp` box at offset 4 whose major or a compatible brand is an audio one."""
    if data[4:8] != b"ftyp":
        return False
    end = min(int.from_bytes(data[:4], "big"), len(data), 256)
    brands = [data[8:12]] + [data[i : i + 4] for i in range(16, end - 3, 4)]
    return any(brand in M4A_BRANDS for brand in brands)


def _sniff_frame(data):
    """'aac' for an ADTS header, 'mp3' for an MPEG-1/2/2.5 layer II/III frame header, else None."""
    if len(data) < 4 or data[0] != 0xFF or data[1] & MPEG_SYNC_MASK != MPEG_SYNC_MASK:
        return None
    # ADTS and MPEG audio share the sync word; only ADTS has layer bits 00, so test it first.
    if data[1] & ADTS_SYNC_MASK == 0xF0:
        return "aac" if (data[2] >> 2) & 0x0F <= 12 else None
    version, layer = (data[1] >> 3) & 0x03, (data[1] >> 1) & 0x03
    bitrate, rate = data[2] >> 4, (data[2] >> 2) & 0x03
    # version 01 is reserved, layer 11 is layer I; bitrate 0 (free) and 15, sample rate 11 are invalid.
    if version != 1 and layer in (1, 2) and 0 < bitrate < 15 and rate != 3:
        return "mp3"
    return None


def sniff_audio(data: bytes) -> str | None:
    """The audio format the magic numbers announce (one of AUDIO_FORMATS), or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data.startswith(b"fLaC"):
        return "flac"
    if data.startswith(b"OggS"):
        return "ogg"
    if data[:4] == b"FORM" and data[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if _is_m4a(data):
        return "m4a"
    if data.startswith(b"ID3"):
        return "mp3"
    return _sniff_frame(data)


def decode_base64(text: str, field: str, max_bytes: int) -> bytes:
    """Strict standard base64 to bytes: 413 over max_bytes (checked before decoding), 400 invalid or empty."""
    if not isinstance(text, str):
        raise _bad(field, f"{field} must be a base64 string")
    # Four encoded characters carry three bytes; allow generous room for line breaks before even copying.
    if len(text) > 2 * (4 * (max_bytes // 3 + 1)) + 1024:
        raise _too_large(field, len(text) * 3 // 4, max_bytes, about="about ")
    try:
        raw = b"".join(part.encode("ascii").translate(None, WHITESPACE) for part in in_slices(text, SLICE))
    except UnicodeEncodeError:
        raise _bad(field, f"{field} is not valid base64", "contains non-ASCII characters") from None
    if not raw:
        raise _bad(field, f"{field} is empty")
    size = len(raw.rstrip(b"=")) * 3 // 4
    if size > max_bytes:
        raise _too_large(field, size, max_bytes, about="about ")
    try:
        data = _b64decode(raw + b"=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        raise _bad(
            field,
            f"{field} is not valid base64",
            "must be standard base64 (A-Z, a-z, 0-9, '+', '/', '=' padding only at the end)",
        ) from None
    return _check_size(data, field, max_bytes)


def _b64decode(raw):
    """Strict base64 decoding, slice by slice; padding is allowed only at the very end."""
    parts = []
    for start, piece in zip(range(0, len(raw), SLICE), in_slices(raw, SLICE), strict=True):
        if start + SLICE < len(raw) and b"=" in piece:
            raise binascii.Error("padding before the end")
        parts.append(base64.b64decode(piece, validate=True))
    return b"".join(parts)


def _b64encode(data):
    """Base64 text of `data`, slice by slice (3 bytes a 4-character group, so the slices join exactly)."""
    return "".join(base64.b64encode(piece).decode("ascii") for piece in in_slices(data, SLICE // 4 * 3))


def _check_size(data, field, max_bytes):
    """The bytes themselves, or 413 over max_bytes / 400 when empty."""
    if len(data) > max_bytes:
        raise _too_large(field, len(data), max_bytes)
    if not data:
        raise _bad(field, f"{field} is empty")
    return data


def _sniffed_image(data, field):
    """The sniffed image type, or a 400 listing the accepted types."""
    kind = sniff_image(data)
    if kind is None:
        raise _bad(field, f"{field} is not a supported image; accepted: PNG, JPEG, WebP, GIF")
    return kind


def _data_image_url(url, field, max_bytes):
    """Validate a data:image URL and re-encode it under the type the bytes show."""
    comma = url.find(",", 0, 128)
    params = url[5:comma].lower().replace(" ", "").split(";") if comma > 0 else []
    declared = DATA_URL_TYPES.get(params[0]) if params else None
    if declared is None or params[-1] != "base64" or len(params) < 2:
        raise _bad(field, f"{field} is not an accepted image URL: {URL_RULE}")
    data = decode_base64(url[comma + 1 :], field, max_bytes)
    kind = _sniffed_image(data, field)
    if kind != declared:
        raise _bad(field, f"{field} declares {declared} but its bytes are {kind}")
    return image_data_url(data, field, max_bytes)


def _http_url(url, field):
    """An http(s) URL with a host, returned unchanged."""
    if len(url) > MAX_URL_CHARS:
        raise _bad(field, f"{field} is longer than {MAX_URL_CHARS} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise _bad(field, f"{field} contains whitespace or control characters")
    try:
        host = urlsplit(url).hostname
    except ValueError:
        host = None
    if not host:
        raise _bad(field, f"{field} has no host")
    return url


def image_url_part(url: str, field: str, max_bytes: int) -> str:
    """The image URL to forward: http(s) unchanged, data:image re-encoded after checks; 400 for the rest."""
    if not isinstance(url, str):
        raise _bad(field, f"{field} must be a string")
    url = url.strip()
    if not url:
        raise _bad(field, f"{field} is empty")
    scheme = url.split(":", 1)[0].lower() if ":" in url[:16] else ""
    if scheme in ("http", "https"):
        return _http_url(url, field)
    if scheme == "data":
        return _data_image_url(url, field, max_bytes)
    raise _bad(field, f"{field} is not an accepted image URL: {URL_RULE}")


def image_data_url(data: bytes, field: str, max_bytes: int) -> str:
    """A data URL for uploaded image bytes; the media type comes only from the bytes."""
    data = _check_size(data, field, max_bytes)
    kind = _sniffed_image(data, field)
    return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"


def _format_field(field):
    """Where the declared format sits: `audio.format` beside `audio.data`, else the form field `format`."""
    return field[: -len(".data")] + ".format" if field.endswith(".data") else "format"


def _declared_format(declared, field):
    """The canonical declared format (None when not given), or a 400 listing supported ones."""
    if declared is None:
        return None
    where = _format_field(field)
    name = declared.strip().lower() if isinstance(declared, str) else None
    name = AUDIO_ALIASES.get(name, name)
    if name not in AUDIO_FORMATS:
        raise _bad(where, f"{where} {declared!r} is not supported; supported: {', '.join(AUDIO_FORMATS)}")
    return name


def _audio_result(data, declared, field, text=None):
    """Sniff the audio, compare with the declared format, and build the input_audio dict (`text`: its base64)."""
    kind = sniff_audio(data)
    if kind is None:
        raise _bad(field, f"{field} is not a supported audio file; supported: {', '.join(AUDIO_FORMATS)}")
    if declared is not None and declared != kind:
        where = _format_field(field)
        raise _bad(where, f"{where} declares {declared} but the bytes of {field} are {kind}")
    return {"data": text or _b64encode(data), "format": kind}


def audio_part(data_b64: str, declared_format: str | None, field: str, max_bytes: int) -> dict:
    """JSON audio: raw base64 (no data: prefix), checked against the declared format."""
    declared = _declared_format(declared_format, field)
    if isinstance(data_b64, str) and data_b64.lstrip()[:5].lower() == "data:":
        raise _bad(field, f"{field} must be raw base64 without a 'data:' prefix")
    data = decode_base64(data_b64, field, max_bytes)
    # Base64 that was already canonical (no line breaks, padded) is forwarded as it came: no re-encoding.
    canonical = len(data_b64) == (len(data) + 2) // 3 * 4
    return _audio_result(data, declared, field, data_b64 if canonical else None)


def audio_upload_part(data: bytes, declared_format: str | None, field: str, max_bytes: int) -> dict:
    """Uploaded audio bytes, checked against the optional declared format."""
    declared = _declared_format(declared_format, field)
    return _audio_result(_check_size(data, field, max_bytes), declared, field)
