"""The `text_statistics` built-in: counts over a text in one linear pass each, without regular expressions."""

from .schema import function_tool

MAX_TEXT_CHARS = 100_000
WORDS_PER_MINUTE = 200
_SENTENCE_ENDS = frozenset(".!?…")
# A terminator followed by one of these (or the end) closes a sentence, so "3.14" and "e.g.x" do not.
_AFTER_SENTENCE = frozenset("\"')]»”’")

TOOL = function_tool(
    "text_statistics",
    "Count characters, words, sentences, paragraphs and lines in a text, with average word length and "
    f"reading time at {WORDS_PER_MINUTE} words per minute. Use it instead of counting by hand.",
    {"text": {"type": "string", "maxLength": MAX_TEXT_CHARS, "description": "The text to analyse."}},
    required=["text"],
)


def text_statistics(text):
    """Statistics about `text`."""
    words = [word for word in text.split() if any(char.isalnum() for char in word)]
    letters = sum(sum(char.isalnum() for char in word) for word in words)
    return {
        "characters": len(text),
        "characters_no_spaces": sum(not char.isspace() for char in text),
        "words": len(words),
        "sentences": _sentences(text),
        "paragraphs": _paragraphs(text),
        "lines": len(text.splitlines()),
        "average_word_length": round(letters / len(words), 2) if words else 0,
        "reading_time_minutes": round(len(words) / WORDS_PER_MINUTE, 1),
    }


def _sentences(text):
    """Runs of text with letters or digits, each ended by . ! ? … (or by the end of the text)."""
    count, open_sentence, index = 0, False, 0
    while index < len(text):
        if text[index] in _SENTENCE_ENDS:
            # Jump over the whole run of terminators and closers so every character is visited once.
            end = index
            while end < len(text) and (text[end] in _SENTENCE_ENDS or text[end] in _AFTER_SENTENCE):
                end += 1
            if open_sentence and (end == len(text) or text[end].isspace()):
                count, open_sentence = count + 1, False
            index = end
        else:
            open_sentence = open_sentence or text[index].isalnum()
            index += 1
    return count + open_sentence


def _paragraphs(text):
    """Blocks of non-blank lines separated by blank lines."""
    count, in_paragraph = 0, False
    for line in text.splitlines():
        blank = not line.strip()
        count += not blank and not in_paragraph
        in_paragraph = not blank
    return count
