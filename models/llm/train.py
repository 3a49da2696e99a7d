"""Train the bundled language model: a byte-level BPE tokenizer and a small GPT-2 on the standard
library's docstrings (run: `python -m models.llm.train`, or `python models/llm/train.py`).

The text ships with every Python install, so nothing is downloaded. The corpus is every docstring
of the standard library's Python sources (modules, classes, functions: read with `ast`, cleaned
with `inspect.cleandoc`, so no module is imported and nothing runs) plus those of the built-in C
modules (`inspect.getdoc` on each public member), in sorted order. Each docstring becomes one chat
turn, `<|user|>\\nQUALIFIED.NAME\\n<|assistant|>\\nDOCSTRING<|endoftext|>`, so the model learns to
answer "what is json.dumps?" the way `help()` would, and the bundled chat template asks it that way.

Seeded and CPU only (`torch.set_num_threads(--threads)`, 2 by default): the same Python version
(the corpus), torch build, thread count and seed give the same weights byte for byte. Writes into
--out a Hugging Face model directory: config.json, generation_config.json, model.safetensors,
tokenizer.json, tokenizer_config.json (with the chat template), special_tokens_map.json, and
training.json (seed, steps, corpus digest, losses, wall time).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import importlib
import inspect
import json
import math
import platform
import sys
import sysconfig
import time
from pathlib import Path

HERE = Path(__file__).parent
END = "<|endoftext|>"
SPECIAL_TOKENS = [END, "<|system|>", "<|user|>", "<|assistant|>"]
# One turn per line pair; the model was trained on exactly this layout (see turn()).
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
# Directories of the standard library whose docstrings are tests, demos or vendored code, not documentation.
SKIPPED_DIRS = frozenset(
    {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__", "turtledemo", "lib2to3"}
)
MIN_DOC_CHARS = 20


def turn(name: str, doc: str) -> str:
    return f"<|user|>\n{name}\n<|assistant|>\n{doc}{END}"


def _source_docs(root: Path, max_files: int | None) -> list[tuple[str, str]]:
    files = sorted(p for p in root.rglob("*.py") if not SKIPPED_DIRS.intersection(p.relative_to(root).parts))
    docs: list[tuple[str, str]] = []
    for path in files[:max_files]:
        module = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (SyntaxError, ValueError):  # a few stdlib files are deliberately invalid (e.g. bad encodings)
            continue
        docs.extend(_tree_docs(tree, module))
    return docs


def _tree_docs(tree: ast.Module, module: str) -> list[tuple[str, str]]:
    docs: list[tuple[str, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}.{child.name}"
                doc = ast.get_docstring(child, clean=True)
                if doc and not child.name.startswith("_") and len(doc) >= MIN_DOC_CHARS:
                    docs.append((name, doc))
                if isinstance(child, ast.ClassDef):
                    visit(child, name)

    doc = ast.get_docstring(tree, clean=True)
    if doc and len(doc) >= MIN_DOC_CHARS:
        docs.append((module, doc))
    visit(tree, module)
    return docs


def _builtin_docs() -> list[tuple[str, str]]:
    """The C modules compiled into the interpreter: importing them runs no Python code."""
    docs: list[tuple[str, str]] = []
    for module_name in sorted(sys.builtin_module_names):
        if (
            module_name.startswith("_") or module_name == "sys"
        ):  # sys holds the process's state (hooks a test runner replaces)
            continue
        module = importlib.import_module(module_name)
        doc = inspect.getdoc(module)
        if doc and len(doc) >= MIN_DOC_CHARS:
            docs.append((module_name, doc))
        for name in sorted(n for n in dir(module) if not n.startswith("_")):
            member = getattr(module, name)
            # the module's own functions and classes only: other attributes (sys.stdout, sys.flags) are
            # the running process's state, and their docstrings would make the corpus depend on it
            if (
                not (inspect.isroutine(member) or inspect.isclass(member))
                or getattr(member, "__module__", None) != module_name
            ):
                continue
            doc = inspect.getdoc(member)
            if doc and len(doc) >= MIN_DOC_CHARS:
                docs.append((f"{module_name}.{name}", doc))
    return docs


def corpus(max_files: int | None = None) -> list[str]:
    """Every training document (one chat turn per docstring), deterministic order, duplicates dropped."""
    root = Path(sysconfig.get_paths()["stdlib"])
    seen: set[str] = set()
    turns: list[str] = []
    for name, doc in _builtin_docs() + _source_docs(root, max_files):
        text = turn(name, doc)
        if text not in seen:
            seen.add(text)
            turns.append(text)
    return turns


def train_tokenizer(texts: list[str], vocab_size: int):  # -> PreTrainedTokenizerFast
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        texts, vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIAL_TOKENS, show_progress=False
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token=END, eos_token=END, unk_token=END, pad_token=END
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "tiny-stdlib")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=1800)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--vocab", type=int, default=4096)
    parser.add_argument("--embd", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--positions", type=int, default=512)
    parser.add_argument("--block", type=int, default=128, help="training sequence length")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--max-files", type=int, default=None, help="read only the first N stdlib files (quick tests)")
    args = parser.parse_args(argv)

    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    texts = corpus(args.max_files)
    corpus_digest = "sha256:" + hashlib.sha256("\x00".join(texts).encode()).hexdigest()
    tokenizer = train_tokenizer(texts, args.vocab)
    ids: list[int] = []
    for encoding in tokenizer._tokenizer.encode_batch(texts):
        ids.extend(encoding.ids)
    data = torch.tensor(ids, dtype=torch.long)
    print(
        f"corpus: {len(texts)} docstrings, {sum(map(len, texts))} characters, {len(data)} tokens "
        f"({corpus_digest[:19]}…)",
        flush=True,
    )

    torch.manual_seed(args.seed)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=args.positions,
        n_embd=args.embd,
        n_layer=args.layers,
        n_head=args.heads,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=tokenizer.convert_tokens_to_ids(END),
        eos_token_id=tokenizer.convert_tokens_to_ids(END),
    )
    model = GPT2LMHeadModel(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.95))
    warmup = max(1, args.steps // 20)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, args.steps - warmup)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    generator = torch.Generator().manual_seed(args.seed)
    losses: list[float] = []
    model.train()
    for step in range(args.steps):
        starts = torch.randint(0, len(data) - args.block - 1, (args.batch,), generator=generator)
        batch = torch.stack([data[s : s + args.block] for s in starts.tolist()])
        loss = model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(round(loss.item(), 4))
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step:5d}  loss {losses[-1]:.3f}  {time.perf_counter() - started:6.1f} s", flush=True)

    model.eval()
    args.out.mkdir(parents=True, exist_ok=True)
    model.generation_config.pad_token_id = config.eos_token_id
    model.save_pretrained(args.out, safe_serialization=True)
    tokenizer.save_pretrained(args.out)
    seconds = time.perf_counter() - started
    record = {
        "seed": args.seed,
        "steps": args.steps,
        "threads": args.threads,
        "block": args.block,
        "batch": args.batch,
        "lr": args.lr,
        "corpus": {
            "docstrings": len(texts),
            "tokens": len(data),
            "digest": corpus_digest,
            "python": platform.python_version(),
        },
        "torch": torch.__version__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "final_loss": losses[-1],
        "loss_every_50_steps": losses[::50],
        "seconds": round(seconds, 1),
    }
    (args.out / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out} ({record['parameters']} parameters, final loss {losses[-1]:.3f}) in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
