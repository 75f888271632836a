"""The `convert_units` built-in: linear conversion via a base unit per category, affine for temperature."""

import math

from .schema import ToolError, function_tool

MAX_VALUE = 1e100

# category -> canonical symbol -> (size in the category's base unit, other accepted names).
# Names are matched case-insensitively, so "MB" and "mb" are megabytes; bits are spelt "bit", "Mbit".
_UNITS = {
    "length": {
        "mm": (0.001, "millimeter,millimetre"),
        "cm": (0.01, "centimeter,centimetre"),
        "m": (1, "meter,metre"),
        "km": (1000, "kilometer,kilometre"),
        "in": (0.0254, 'inch,inches,"'),
        "ft": (0.3048, "foot,feet,'"),
        "yd": (0.9144, "yard"),
        "mi": (1609.344, "mile"),
        "nmi": (1852, "nautical mile"),
    },
    "mass": {
        "mg": (0.001, "milligram,milligramme"),
        "g": (1, "gram,gramme"),
        "kg": (1000, "kilogram,kilogramme,kilo"),
        "t": (1e6, "tonne,metric ton,ton"),
        "oz": (28.349523125, "ounce"),
        "lb": (453.59237, "pound,lbs"),
        "st": (6350.29318, "stone"),
    },
    "volume": {
        "ml": (0.001, "milliliter,millilitre,cm3,cc"),
        "l": (1, "liter,litre"),
        "m3": (1000, "cubic meter,cubic metre,m^3,m³"),
        "tsp": (0.00492892159375, "teaspoon"),
        "tbsp": (0.01478676478125, "tablespoon"),
        "fl oz": (0.0295735295625, "fluid ounce"),
        "cup": (0.2365882365, "us cup"),
        "pt": (0.473176473, "pint,us pint"),
        "qt": (0.946352946, "quart,us quart"),
        "gal": (3.785411784, "gallon,us gallon"),
        "imp gal": (4.54609, "imperial gallon,uk gallon"),
    },
    "speed": {
        "m/s": (1, "meter per second,meters per second,metre per second,metres per second,mps"),
        "km/h": (1 / 3.6, "kph,kmh,km/hr,kilometer per hour,kilometers per hour,kilometres per hour"),
        "mph": (0.44704, "mi/h,mile per hour,miles per hour"),
        "ft/s": (0.3048, "fps,foot per second,feet per second"),
        "knot": (1852 / 3600, "kn,kt,kts"),
    },
    "data size": {
        "bit": (0.125, "bit"),
        "B": (1, "byte"),
        "KB": (1e3, "kilobyte"),
        "MB": (1e6, "megabyte"),
        "GB": (1e9, "gigabyte"),
        "TB": (1e12, "terabyte"),
        "KiB": (1024, "kibibyte"),
        "MiB": (1024**2, "mebibyte"),
        "GiB": (1024**3, "gibibyte"),
        "TiB": (1024**4, "tebibyte"),
        "Kbit": (125, "kilobit"),
        "Mbit": (125e3, "megabit"),
        "Gbit": (125e6, "gigabit"),
    },
}
# Temperatures are affine: kelvin = (value + offset) * scale.
_TEMPERATURES = {
    "C": (273.15, 1, "celsius,centigrade"),
    "F": (459.67, 5 / 9, "fahrenheit"),
    "K": (0, 1, "kelvin"),
}


def _build_index():
    """Map every accepted lower-case name, and its plural, to (category, symbol)."""
    index = {}
    tables = {**_UNITS, "temperature": {s: (None, names) for s, (_, _, names) in _TEMPERATURES.items()}}
    for category, units in tables.items():
        for symbol, (_, names) in units.items():
            for name in [symbol, *names.split(",")]:
                for form in (name, name + "s"):
                    index.setdefault(form.lower(), (category, symbol))
    return index


_INDEX = _build_index()
CATEGORIES = [*_UNITS, "temperature"]

TOOL = function_tool(
    "convert_units",
    "Convert a value between units of the same category. Categories and units (case-insensitive; full "
    "names and plurals such as 'miles' or 'kilograms' also work): length (mm, cm, m, km, in, ft, yd, mi, "
    "nmi); mass (mg, g, kg, t = metric tonne, oz, lb, st); temperature (C, F, K); volume (ml, l, m3, tsp, "
    "tbsp, fl oz, cup, pt, qt, gal = US units, imp gal); speed (m/s, km/h, mph, ft/s, knot); data size "
    "(bit, B, KB/MB/GB/TB = powers of 1000, KiB/MiB/GiB/TiB = powers of 1024, Kbit/Mbit/Gbit).",
    {
        "value": {"type": "number", "minimum": -MAX_VALUE, "maximum": MAX_VALUE, "description": "Amount"},
        "from_unit": {"type": "string", "maxLength": 40, "description": 'Unit of the value, e.g. "km".'},
        "to_unit": {"type": "string", "maxLength": 40, "description": 'Unit to convert to, e.g. "mi".'},
    },
    required=["value", "from_unit", "to_unit"],
)


def convert_units(value, from_unit, to_unit):
    """Convert `value` from one unit to another of the same category."""
    source, target = _lookup(from_unit, "from_unit"), _lookup(to_unit, "to_unit")
    if source[0] != target[0]:
        raise ToolError(
            f"cannot convert {source[0]} ({source[1]}) to {target[0]} ({target[1]}); "
            f"accepted {source[0]} units: {_accepted(source[0])}"
        )
    category = source[0]
    result = (
        _temperature(value, source[1], target[1])
        if category == "temperature"
        else (value * _UNITS[category][source[1]][0] / _UNITS[category][target[1]][0])
    )
    if not math.isfinite(result):
        raise ToolError("result is too large")
    return {
        "value": value,
        "from_unit": source[1],
        "to_unit": target[1],
        "result": _round(result),
        "category": category,
    }


def _lookup(unit, field):
    """The (category, symbol) of a unit name, or an error listing every accepted unit."""
    key = " ".join(unit.replace("°", " ").lower().split())
    key = key.removeprefix("degrees ").removeprefix("degree ").removeprefix("deg ")
    found = _INDEX.get(key) or _INDEX.get(key.replace(" ", ""))
    if found is None:
        listing = "; ".join(f"{category}: {_accepted(category)}" for category in CATEGORIES)
        raise ToolError(f"unknown unit {unit!r} in '{field}'; accepted units are {listing}")
    return found


def _accepted(category):
    """The canonical symbols of one category, comma-separated."""
    return ", ".join(_TEMPERATURES if category == "temperature" else _UNITS[category])


def _temperature(value, source, target):
    """Convert through kelvin, refusing temperatures below absolute zero."""
    offset, scale, _ = _TEMPERATURES[source]
    kelvin = (value + offset) * scale
    if kelvin < -1e-9:
        raise ToolError(f"{value} {source} is below absolute zero")
    offset, scale, _ = _TEMPERATURES[target]
    # Offsets leave absolute noise (32 F -> 5.7e-14 C) that relative rounding cannot hide.
    return round(kelvin / scale - offset, 10)


def _round(number):
    """Round to 12 significant digits, hiding binary floating-point noise such as 0.30000000000000004."""
    rounded = float(f"{number:.12g}")
    return int(rounded) if rounded.is_integer() and abs(rounded) < 2**53 else rounded
