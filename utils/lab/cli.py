"""What the commands share on their command lines: notebook names, seed lists, -p values, refusing a request, and
a record's command under today's module names.

Standard library only: a command refuses a bad request before it loads torch or starts anything.
"""
import ast
import re

from utils.project import notebook_stems
from utils.provenance import uncommitted

# a command's former module name -> today's: a record names its command as it was typed
FORMER_NAMES = {f"utils.{name}": f"utils.lab.{name}" for name in ("series", "ablation", "bench", "search")}
ALLOW_DIRTY_HELP = "write records although utils/, notebooks/ or requirements.txt have uncommitted changes (the " \
                   "records say so, and nobody can check out the code that made them)"


class RequestError(Exception):
    """A request a command refuses before running anything."""


def resolve(names):
    """Stems for names given as '05', '05_garam_masala' or 'garam_masala' (each once); all notebooks when none."""
    stems = notebook_stems()
    if not names:
        return stems
    chosen = []
    for name in names:
        matches = [s for s in stems if name in (s, s[:2], s[3:])]
        if len(matches) != 1:
            raise RequestError(f"unknown notebook {name!r}; known: {', '.join(stems)}")
        chosen.append(matches[0])
    return list(dict.fromkeys(chosen))


def parse_value(text):
    """A -p value as a Python literal (15, 0.01, True, 'cpu'); anything else stays a string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_seeds(texts):
    """Seeds from '0-9' (a range, both ends included), '3' or several of them: [0, 1, ..., 9]."""
    seeds = []
    for text in texts:
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", text.strip())
        if not match or (match[2] is not None and int(match[2]) < int(match[1])):
            raise RequestError(f"--seeds {text!r}: give seeds as N or as a range LOW-HIGH (e.g. 0-9)")
        seeds += range(int(match[1]), int(match[2] or match[1]) + 1)
    if len(set(seeds)) != len(seeds):
        raise RequestError(f"--seeds {' '.join(texts)}: a seed is given twice")
    return seeds


def refuse_uncommitted(allow_dirty):
    """RequestError naming the uncommitted files of the code (utils.provenance.CODE_PATHS), unless `allow_dirty`: a
    record made from them names a commit that does not hold its code."""
    changed = [] if allow_dirty else uncommitted() or []
    if changed:
        shown = ", ".join(changed[:6]) + (f" and {len(changed) - 6} more" if len(changed) > 6 else "")
        raise RequestError(f"uncommitted changes in {shown}: commit them first, so that the records name the code "
                           "that made them, or give --allow-dirty")


def current_command(command):
    """`command` under today's module names: 'python -m utils.series run 05' -> 'python -m utils.lab.series run 05'.
    A record keeps the command as it was typed; two records of one command compare through this."""
    if not command:
        return command
    return re.sub(r"^python -m (utils\.[a-z_]+)(?=\s|$)", lambda m: f"python -m {FORMER_NAMES.get(m[1], m[1])}",
                  command)
