"""services.media: sniffing, base64, image URLs and audio parts, with real small media built here."""

import struct
import time

import pytest

from core.errors import InvalidRequestError, RequestTooLargeError
from services import media
from tests.conftest import (
    AAC,
    AIFC,
    AIFF,
    AUDIO,
    FLAC,
    GIF,
    GIF87,
    JPEG,
    M4A,
    M4A_COMPAT,
    MP2_FRAME,
    MP3_FRAME,
    MP3_ID3,
    OGG,
    PNG,
    TEXT,
    WAV,
    WEBP,
    b64,
)

IMAGES = [("image/png", PNG), ("image/jpeg", JPEG), ("image/gif", GIF), ("image/webp", WEBP)]
LIMIT = 1000


def raised(func, *args, kind=InvalidRequestError):
    """Call func expecting `kind`; return the exception."""
    with pytest.raises(kind) as info:
        func(*args)
    return info.value


def assert_400(exc, field):
    assert (exc.status, exc.type) == (400, "invalid_request_error")
    assert list(exc.details) == [field] and exc.details[field]


def assert_413(exc, field):
    assert (exc.status, exc.type) == (413, "request_too_large")
    assert list(exc.details) == [field] and exc.details[field]


# --- sniffing -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("expected,data", IMAGES + [("image/gif", GIF87)])
def test_sniff_image(expected, data):
    assert media.sniff_image(data) == expected


@pytest.mark.parametrize(
    "data",
    [
        b"",
        TEXT,
        WAV,
        b"RIFF\x00\x00\x00\x00WAVE",
        b"\x89PNG",
        b"GIF88a",
        b"\xff\xd8",
    ],
)
def test_sniff_image_rejects(data):
    assert media.sniff_image(data) is None


@pytest.mark.parametrize("expected,data", AUDIO + [("aiff", AIFC), ("m4a", M4A_COMPAT), ("mp3", MP2_FRAME)])
def test_sniff_audio(expected, data):
    assert media.sniff_audio(data) == expected


@pytest.mark.parametrize(
    "data",
    [
        b"",
        TEXT,
        PNG,
        WEBP,
        b"\xff\xff\x90\x64",  # layer I
        b"\xff\xeb\x90\x64",  # reserved MPEG version
        b"\xff\xfb\xf0\x64",  # bitrate index 15
        b"\xff\xfb\x00\x64",  # free-format bitrate
        b"\xff\xfb\x9c\x64",  # sample-rate index 3
        b"\xff\xf1\x74\x80",  # ADTS with sampling index 13
        struct.pack(">I", 20) + b"ftypqt  \x00\x00\x00\x00qt  ",  # QuickTime video brand
        b"FORM\x00\x00\x00\x04ILBM",
    ],
)
def test_sniff_audio_rejects(data):
    assert media.sniff_audio(data) is None


def test_aac_and_mp3_frames_not_confused():
    assert media.sniff_audio(b"\xff\xf1\x50\x80") == "aac"  # layer bits 00
    assert media.sniff_audio(b"\xff\xf3\x90\x64") == "mp3"  # MPEG-2 layer III (sync 0xFFF too)
    assert media.sniff_audio(b"\xff\xe3\x90\x64") == "mp3"  # MPEG-2.5 layer III


def test_constants():
    assert media.AUDIO_FORMATS == ("wav", "mp3", "flac", "m4a", "ogg", "aac", "aiff")
    assert media.IMAGE_TYPES == ("image/png", "image/jpeg", "image/webp", "image/gif")


# --- decode_base64 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        (b64(PNG), PNG),
        ("  " + b64(PNG) + "\n", PNG),
        ("\n".join(b64(WAV)[i : i + 76] for i in range(0, len(b64(WAV)), 76)), WAV),
        ("QUJD\r\nREVG\tRw==", b"ABCDEFG"),
        ("QUJDREVGRw", b"ABCDEFG"),  # missing '==' padding
        ("QUJDREVGR0g", b"ABCDEFGH"),  # missing '=' padding
        ("QUJDREVGR0g=", b"ABCDEFGH"),
    ],
)
def test_decode_base64_accepts(text, expected):
    assert media.decode_base64(text, "audio.data", LIMIT) == expected


@pytest.mark.parametrize(
    "text",
    [
        "QUJD*REVG",
        "QUJD-_==",
        "QUJDR",
        "QQ==QQ==",
        "=QUJD",
        "QUJDREVGRw===",
        "QUJDé",
        "data:image/png;base64,QUJD",
    ],
)
def test_decode_base64_invalid(text):
    exc = raised(media.decode_base64, text, "audio.data", LIMIT)
    assert_400(exc, "audio.data")
    assert exc.message == "audio.data is not valid base64"


@pytest.mark.parametrize("text", ["", "   ", "\r\n\t"])
def test_decode_base64_empty(text):
    exc = raised(media.decode_base64, text, "audio.data", LIMIT)
    assert_400(exc, "audio.data")
    assert exc.details == {"audio.data": ["audio.data is empty"]}


def test_decode_base64_not_a_string():
    assert_400(raised(media.decode_base64, 123, "audio.data", LIMIT), "audio.data")


@pytest.mark.parametrize("size,ok", [(999, True), (LIMIT, True), (LIMIT + 1, False), (LIMIT * 2, False)])
def test_decode_base64_limit(size, ok):
    text = b64(b"\x01" * size)
    if ok:
        assert len(media.decode_base64(text, "audio.data", LIMIT)) == size
    else:
        exc = raised(media.decode_base64, text, "audio.data", LIMIT, kind=RequestTooLargeError)
        assert_413(exc, "audio.data")


def test_decode_base64_huge_refused_without_decoding():
    text = "A" * (50 * 1024 * 1024)
    start = time.perf_counter()
    exc = raised(media.decode_base64, text, "audio.data", LIMIT, kind=RequestTooLargeError)
    assert time.perf_counter() - start < 0.5
    assert_413(exc, "audio.data")
    assert "1000 bytes" in exc.message


def test_decode_base64_refuses_on_estimate_before_decoding(monkeypatch):
    monkeypatch.setattr(media.base64, "b64decode", lambda *a, **k: pytest.fail("decoded an oversized one"))
    text = "A" * 1400  # about 1,050 bytes, well within the whitespace allowance
    assert_413(raised(media.decode_base64, text, "f", LIMIT, kind=RequestTooLargeError), "f")


# --- image_url_part -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/cat.png",
        "http://example.com:8080/a/b.jpg?x=1&y=2#frag",
        "HTTPS://Example.COM/Cat.PNG",
        "https://[2001:db8::1]/a.webp",
    ],
)
def test_image_url_http_unchanged(url):
    assert media.image_url_part(url, "images.0.url", LIMIT) == url


@pytest.mark.parametrize("mime,data", IMAGES)
def test_image_url_data_each_type(mime, data):
    url = f"data:{mime};base64,{b64(data)}"
    assert media.image_url_part(url, "images.0.url", LIMIT) == url


@pytest.mark.parametrize(
    "url,expected",
    [
        ("data:IMAGE/PNG;BASE64," + b64(PNG), "data:image/png;base64," + b64(PNG)),
        ("data:image/jpg;base64," + b64(JPEG), "data:image/jpeg;base64," + b64(JPEG)),
        ("data:image/png;base64," + b64(PNG).rstrip("="), "data:image/png;base64," + b64(PNG)),
        ("data:image/gif;base64,\n" + b64(GIF)[:20] + "\n" + b64(GIF)[20:], "data:image/gif;base64," + b64(GIF)),
        ("  data:image/webp;base64," + b64(WEBP) + " ", "data:image/webp;base64," + b64(WEBP)),
    ],
)
def test_image_url_data_normalized(url, expected):
    assert media.image_url_part(url, "images.0.url", LIMIT) == expected


@pytest.mark.parametrize(
    "declared,data,actual",
    [
        ("image/png", JPEG, "image/jpeg"),
        ("image/jpeg", PNG, "image/png"),
        ("image/jpg", GIF, "image/gif"),
        ("image/gif", WEBP, "image/webp"),
        ("image/webp", PNG, "image/png"),
    ],
)
def test_image_url_declared_type_contradicted(declared, data, actual):
    exc = raised(media.image_url_part, f"data:{declared};base64,{b64(data)}", "images.2.url", LIMIT)
    assert_400(exc, "images.2.url")
    canonical = "image/jpeg" if declared == "image/jpg" else declared
    assert exc.message == f"images.2.url declares {canonical} but its bytes are {actual}"


@pytest.mark.parametrize("data", [TEXT, WAV, b"\x00" * 64])
def test_image_url_not_an_image(data):
    exc = raised(media.image_url_part, "data:image/png;base64," + b64(data), "images.0.url", LIMIT)
    assert_400(exc, "images.0.url")
    assert "not a supported image" in exc.message


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/a.png",
        "javascript:alert(1)",
        "gopher://example.com/",
        "/images/cat.png",
        "cat.png",
        "//example.com/cat.png",
        "example.com/cat.png",
        "mailto:a@example.com",
        "data:text/plain;base64,aGVsbG8=",
        "data:image/svg+xml;base64,PHN2Zy8+",
        "data:image/bmp;base64,Qk0=",
        "data:image/png," + b64(PNG),
        "data:image/png;utf8,abc",
        "data:;base64," + b64(PNG),
        "data:image/png",
        "data:base64," + b64(PNG),
    ],
)
def test_image_url_disallowed_schemes(url):
    exc = raised(media.image_url_part, url, "images.0.url", LIMIT)
    assert_400(exc, "images.0.url")
    assert "only http(s) URLs and data:image/<png|jpeg|webp|gif>;base64 URLs are accepted" in exc.message


@pytest.mark.parametrize(
    "url,fragment",
    [
        ("https://", "has no host"),
        ("http:///path", "has no host"),
        ("https://[::1/a.png", "has no host"),
        ("https://example.com/a b.png", "whitespace"),
        ("https://example.com/\x00", "control"),
        ("https://example.com/" + "a" * 8200, "longer than 8192"),
        ("", "is empty"),
        ("   ", "is empty"),
    ],
)
def test_image_url_bad_http(url, fragment):
    exc = raised(media.image_url_part, url, "images.0.url", LIMIT)
    assert_400(exc, "images.0.url")
    assert fragment in exc.message


def test_image_url_length_cap_boundary():
    url = "https://example.com/" + "a" * (8192 - 20)
    assert len(url) == 8192 and media.image_url_part(url, "images.0.url", LIMIT) == url


@pytest.mark.parametrize("url", ["data:image/png;base64,iVBOR*w0", "data:image/png;base64,", None, 42])
def test_image_url_bad_data(url):
    assert_400(raised(media.image_url_part, url, "images.0.url", LIMIT), "images.0.url")


def _png_of(size):
    return PNG + b"\x00" * (size - len(PNG))


@pytest.mark.parametrize("size,ok", [(LIMIT - 1, True), (LIMIT, True), (LIMIT + 1, False)])
def test_image_url_limit(size, ok):
    url = "data:image/png;base64," + b64(_png_of(size))
    if ok:
        assert media.image_url_part(url, "images.0.url", LIMIT) == url
    else:
        exc = raised(media.image_url_part, url, "images.0.url", LIMIT, kind=RequestTooLargeError)
        assert_413(exc, "images.0.url")


def test_image_url_huge_data_refused_quickly():
    url = "data:image/png;base64," + "A" * (50 * 1024 * 1024)
    start = time.perf_counter()
    exc = raised(media.image_url_part, url, "images.0.url", LIMIT, kind=RequestTooLargeError)
    assert_413(exc, "images.0.url")
    assert time.perf_counter() - start < 0.5


# --- image_data_url -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mime,data", IMAGES)
def test_image_upload_each_type(mime, data):
    assert media.image_data_url(data, "image", LIMIT) == f"data:{mime};base64,{b64(data)}"


@pytest.mark.parametrize(
    "data,kind,fragment",
    [
        (b"", InvalidRequestError, "is empty"),
        (TEXT, InvalidRequestError, "not a supported image"),
        (WAV, InvalidRequestError, "not a supported image"),
        (_png_of(LIMIT + 1), RequestTooLargeError, "the limit is 1000 bytes"),
    ],
)
def test_image_upload_refused(data, kind, fragment):
    exc = raised(media.image_data_url, data, "image", LIMIT, kind=kind)
    assert list(exc.details) == ["image"] and fragment in exc.message


@pytest.mark.parametrize("size", [LIMIT - 1, LIMIT])
def test_image_upload_just_under_limit(size):
    assert media.image_data_url(_png_of(size), "image", LIMIT).startswith("data:image/png;base64,")


# --- audio_part -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt,data", AUDIO)
def test_audio_part_each_format(fmt, data):
    assert media.audio_part(b64(data), fmt, "audio.data", LIMIT) == {"data": b64(data), "format": fmt}


@pytest.mark.parametrize("fmt,data", AUDIO)
def test_audio_part_without_declared_format(fmt, data):
    assert media.audio_part(b64(data), None, "audio.data", LIMIT)["format"] == fmt


@pytest.mark.parametrize(
    "declared,data,expected",
    [
        ("WAV", WAV, "wav"),
        (" Mp3 ", MP3_ID3, "mp3"),
        ("mpeg", MP3_FRAME, "mp3"),
        ("aif", AIFF, "aiff"),
        ("oga", OGG, "ogg"),
        ("mp4", M4A, "m4a"),
        ("FLAC", FLAC, "flac"),
    ],
)
def test_audio_part_declared_aliases(declared, data, expected):
    assert media.audio_part(b64(data), declared, "audio.data", LIMIT)["format"] == expected


def test_audio_part_cleans_base64():
    text = "\n" + "\n".join(b64(WAV)[i : i + 40] for i in range(0, len(b64(WAV)), 40)).rstrip("=") + "  "
    assert media.audio_part(text, "wav", "audio.data", LIMIT) == {"data": b64(WAV), "format": "wav"}


@pytest.mark.parametrize(
    "declared,data,actual",
    [
        ("mp3", WAV, "wav"),
        ("wav", MP3_ID3, "mp3"),
        ("aac", MP3_FRAME, "mp3"),
        ("mp3", AAC, "aac"),
        ("ogg", FLAC, "flac"),
        ("m4a", AIFF, "aiff"),
    ],
)
def test_audio_part_declared_contradicted(declared, data, actual):
    exc = raised(media.audio_part, b64(data), declared, "audio.data", LIMIT)
    assert_400(exc, "audio.format")
    assert exc.message == f"audio.format declares {declared} but the bytes of audio.data are {actual}"


@pytest.mark.parametrize("declared", ["pcm16", "opus", "", "wma", 3])
def test_audio_part_unknown_declared_format(declared):
    exc = raised(media.audio_part, b64(WAV), declared, "audio.data", LIMIT)
    assert_400(exc, "audio.format")
    assert "supported: wav, mp3, flac, m4a, ogg, aac, aiff" in exc.message


@pytest.mark.parametrize("data", [TEXT, PNG, b"\x00" * 32])
def test_audio_part_not_audio(data):
    exc = raised(media.audio_part, b64(data), "wav", "audio.data", LIMIT)
    assert_400(exc, "audio.data")
    assert exc.message == ("audio.data is not a supported audio file; supported: wav, mp3, flac, m4a, ogg, aac, aiff")


@pytest.mark.parametrize("text", ["data:audio/wav;base64," + b64(WAV), " DATA:audio/mpeg;base64,SUQz"])
def test_audio_part_data_prefix(text):
    exc = raised(media.audio_part, text, "wav", "audio.data", LIMIT)
    assert_400(exc, "audio.data")
    assert exc.message == "audio.data must be raw base64 without a 'data:' prefix"


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("", "is empty"),
        ("  \n", "is empty"),
        ("UklGR*", "not valid base64"),
        (None, "must be a base64 string"),
    ],
)
def test_audio_part_bad_base64(text, fragment):
    exc = raised(media.audio_part, text, "wav", "audio.data", LIMIT)
    assert_400(exc, "audio.data")
    assert fragment in exc.message


def _wav_of(size):
    return WAV + b"\x00" * (size - len(WAV))


@pytest.mark.parametrize("size,ok", [(LIMIT - 1, True), (LIMIT, True), (LIMIT + 1, False)])
def test_audio_part_limit(size, ok):
    text = b64(_wav_of(size))
    if ok:
        assert media.audio_part(text, "wav", "audio.data", LIMIT)["format"] == "wav"
    else:
        exc = raised(media.audio_part, text, "wav", "audio.data", LIMIT, kind=RequestTooLargeError)
        assert_413(exc, "audio.data")


def test_audio_part_huge_refused_quickly():
    start = time.perf_counter()
    text = "A" * (50 * 1024 * 1024)
    exc = raised(media.audio_part, text, "wav", "audio.data", LIMIT, kind=RequestTooLargeError)
    assert time.perf_counter() - start < 0.5
    assert_413(exc, "audio.data")


# --- audio_upload_part ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt,data", AUDIO)
def test_audio_upload_each_format(fmt, data):
    assert media.audio_upload_part(data, None, "audio", LIMIT) == {"data": b64(data), "format": fmt}
    assert media.audio_upload_part(data, fmt.upper(), "audio", LIMIT)["format"] == fmt


def test_audio_upload_declared_contradicted():
    exc = raised(media.audio_upload_part, WAV, "mp3", "audio", LIMIT)
    assert_400(exc, "format")
    assert exc.message == "format declares mp3 but the bytes of audio are wav"


@pytest.mark.parametrize(
    "data,declared,kind,field,fragment",
    [
        (b"", None, InvalidRequestError, "audio", "is empty"),
        (TEXT, None, InvalidRequestError, "audio", "not a supported audio file"),
        (WAV, "speex", InvalidRequestError, "format", "is not supported"),
        (_wav_of(LIMIT + 1), None, RequestTooLargeError, "audio", "the limit is 1000 bytes"),
    ],
)
def test_audio_upload_refused(data, declared, kind, field, fragment):
    exc = raised(media.audio_upload_part, data, declared, "audio", LIMIT, kind=kind)
    assert list(exc.details) == [field] and fragment in exc.message


@pytest.mark.parametrize("size", [LIMIT - 1, LIMIT])
def test_audio_upload_just_under_limit(size):
    assert media.audio_upload_part(_wav_of(size), "wav", "audio", LIMIT)["format"] == "wav"
