"""The `calculate` built-in: arithmetic on numbers, evaluated from a whitelisted AST with bounded cost."""

import ast
import math
import operator

from .schema import ToolError, function_tool

MAX_EXPRESSION_CHARS = 1000
MAX_NESTING = 50
MAX_NODES = 2000
# Every intermediate integer stays under this many bits (about 3,000 digits), so no step is slow and the
# result always fits Python's 4,300-digit int-to-string limit.
MAX_INT_BITS = 10_000

TOOL = function_tool(
    "calculate",
    "Evaluate an arithmetic expression exactly and return its numeric result. Supports integers and "
    "decimals (e.g. 2.5, 1e-3), parentheses, unary + and -, and the operators + - * / (true division), "
    "// (floor division), % (modulo) and ** (power; ^ is NOT power). No variables, functions, constants "
    "like pi, or units. Integer arithmetic is exact; an integer result outside the 64-bit range is returned "
    "as a string of its exact decimal digits, and results larger than about 3,000 digits are refused.",
    {
        "expression": {
            "type": "string",
            "maxLength": MAX_EXPRESSION_CHARS,
            "description": 'The expression, e.g. "(17.5 * 3 - 2) / 4" or "2**64 % 1000".',
        }
    },
    required=["expression"],
)

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_SYMBOLS = {
    ast.BitXor: "^",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.MatMult: "@",
    ast.Invert: "~",
    ast.Not: "not",
}


def calculate(expression):
    """Evaluate `expression` and return it with its result."""
    result = _evaluate(_parse(expression).body)
    if type(result) is float:
        # 15 significant digits hide binary noise (0.1 + 0.2 -> 0.3) and keep every meaningful digit.
        result = float(f"{result:.15g}")
    elif not -(2**63) <= result < 2**63:
        result = str(result)  # exact, where a JSON number that large would be refused or rounded on the way
    return {"expression": expression, "result": result}


def _parse(expression):
    """Parse after cheap checks, so hostile input never reaches the parser's deep paths."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ToolError(f"expression is longer than {MAX_EXPRESSION_CHARS} characters")
    if not expression.strip():
        raise ToolError("expression is empty")
    depth = 0
    for char in expression:
        depth += (char == "(") - (char == ")")
        if depth > MAX_NESTING:
            raise ToolError(f"expression nests parentheses deeper than {MAX_NESTING} levels")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError) as exc:
        detail = exc.msg if isinstance(exc, SyntaxError) else exc
        raise ToolError(f"expression is not valid arithmetic: {detail}") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise ToolError(f"expression has more than {MAX_NODES} parts")
    return tree


def _evaluate(root):
    """Evaluate bottom-up with an explicit stack, so long operator chains need no recursion."""
    pending, values = [(root, False)], []
    while pending:
        node, operands_done = pending.pop()
        if isinstance(node, ast.Constant):
            values.append(_number(node.value))
        elif operands_done and isinstance(node, ast.UnaryOp):
            values.append(_UNARY[type(node.op)](values.pop()))
        elif operands_done:
            right, left = values.pop(), values.pop()
            values.append(_apply(node.op, left, right))
        else:
            pending.append((node, True))
            pending.extend((operand, False) for operand in reversed(_operands(node)))
    return values[0]


def _operands(node):
    """The operands of an allowed operator node; every other kind of node is refused."""
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return [node.operand]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return [node.left, node.right]
    if isinstance(node, ast.BinOp | ast.UnaryOp):
        symbol = _SYMBOLS.get(type(node.op), type(node.op).__name__)
        hint = " (use ** for powers)" if symbol == "^" else ""
        raise ToolError(f"operator {symbol} is not supported{hint}")
    raise ToolError(f"only numbers and arithmetic operators are allowed, not {_describe(node)}")


def _describe(node):
    """A short human name for a disallowed syntax node."""
    if isinstance(node, ast.Name):
        return f"the name '{node.id}'"
    return {ast.Call: "function calls", ast.Attribute: "attributes", ast.Compare: "comparisons"}.get(
        type(node), f"{type(node).__name__} syntax"
    )


def _number(value):
    """A literal, if it is a finite real number (bools and complex numbers are not)."""
    if type(value) is int:
        return _check_int(value)
    if type(value) is float and math.isfinite(value):
        return value
    if type(value) is float:
        raise ToolError("number literal is too large")
    raise ToolError(f"only numbers are allowed, not {type(value).__name__} literal {value!r}")


def _check_int(value):
    """Refuse integers too large to keep computing with cheaply."""
    if value.bit_length() > MAX_INT_BITS:
        raise ToolError(f"intermediate result is too large (more than {MAX_INT_BITS} bits)")
    return value


def _apply(op, left, right):
    """Apply a binary operator after bounding its cost, then check the result."""
    both_int = type(left) is int and type(right) is int
    if both_int and isinstance(op, ast.Pow) and right > 0:
        _bound_power(left, right)
    if both_int and isinstance(op, ast.Mult) and left.bit_length() + right.bit_length() > MAX_INT_BITS + 1:
        raise ToolError(f"product is too large (more than {MAX_INT_BITS} bits)")
    if isinstance(op, ast.Div) and both_int and right and left % right == 0:
        return _check_int(left // right)  # exact division stays an integer
    result = _BINARY[type(op)](left, right)
    if type(result) is int:
        return _check_int(result)
    if type(result) is not float or not math.isfinite(result):
        raise ToolError("result is not a finite real number")
    return result


def _bound_power(base, exponent):
    """Refuse integer powers whose result would exceed the size cap, before computing them."""
    if abs(base) <= 1:
        return
    if exponent > MAX_INT_BITS or (abs(base).bit_length() - 1) * exponent > MAX_INT_BITS:
        raise ToolError(f"power result is too large (more than {MAX_INT_BITS} bits)")
