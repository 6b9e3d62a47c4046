"""Command line: ``python -m seqnet demo`` (or the ``seqnet`` script).

``demo`` trains a character-level model on the bundled Shakespeare for a
bounded time, showing its progress, then writes samples at a few
temperatures and, when matplotlib is installed, a PNG of its training
curves and update ratios.  ``pronounce`` trains a ``SequenceToSequence``
to spell words into phonemes (the bundled CMU dictionary subset) and
pronounces the words given.  ``config`` prints how this build runs here.
"""
import argparse
import sys
import time

from . import CharRNN, _kernels, show_config
from .datasets import load_shakespeare


def demo(args):
    text = load_shakespeare()
    print(f"seqnet demo: a {len(args.hidden)}-layer {args.cell.upper()} "
          f"({' x '.join(map(str, args.hidden))} units) reads "
          f"{len(text):,} characters of Shakespeare for {args.minutes:g} "
          "minutes; the last 10% is held out for validation.\n", flush=True)
    model = CharRNN(cell=args.cell, hidden_sizes=tuple(args.hidden),
                    batch_size=args.batch_size, tbptt_length=args.bptt,
                    learning_rate=args.learning_rate, max_epochs=10_000,
                    max_time=60 * args.minutes, early_stopping=True,
                    validation_fraction=0.1, n_iter_no_change=3,
                    # A fifth of the rate once the validation loss gains
                    # less than 0.005 in an epoch: 1.506 nats/char against
                    # 1.561 at a constant rate in the same 3 minutes.
                    learning_rate_schedule="plateau",
                    learning_rate_patience=1, tol=0.005,
                    random_state=args.seed, n_jobs=args.threads, verbose=1)
    start = time.perf_counter()
    model.fit(text)
    elapsed = time.perf_counter() - start
    best = min(model.validation_loss_curve_)
    print(f"\ntrained {elapsed:.0f}s, {model.n_iter_} epoch(s), "
          f"{model.chars_per_second_:,.0f} characters/s; validation loss "
          f"{best:.3f} nats/char (perplexity {2.718281828 ** best:.2f})\n")
    for temperature, prime in ((0.5, "ROMEO:\n"), (0.8, "\n"),
                               (1.0, "First Citizen:\n")):
        print(f"---- temperature {temperature} ----")
        print(model.sample(args.chars, prime=prime, temperature=temperature,
                           random_state=args.seed))
        print()
    if args.plot:
        _save_curves(model, args.plot)
    return 0


def _save_curves(model, path):
    """The history and update-ratio plots side by side in a PNG at path
    (drawn without pyplot: no display needed)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        print("(install matplotlib, the 'plot' extra, for a PNG of the "
              "training curves)")
        return
    from .plotting import plot_history, plot_update_ratios
    fig = Figure(figsize=(12, 4.5), layout="constrained")
    left, right = fig.subplots(1, 2)
    plot_history(model, ax=left)
    plot_update_ratios(model, ax=right)
    fig.savefig(path, dpi=100)
    print(f"training curves written to {path}")


def pronounce(args):
    from . import SequenceToSequence
    from .datasets import load_cmudict
    data = load_cmudict()
    print(f"seqnet pronounce: an encoder-decoder (bidirectional LSTM "
          f"{args.hidden}) learns to spell {len(data.X_train):,} words into "
          f"phonemes for {args.seconds:g} s.\n", flush=True)
    model = SequenceToSequence(
        hidden_sizes=(args.hidden,), bidirectional=True, embedding_size=32,
        learning_rate=3e-3, max_epochs=10_000, max_time=args.seconds,
        n_iter_no_change=10_000, random_state=args.seed,
        n_jobs=args.threads, verbose=1)
    model.fit(data.X_train, data.Y_train)
    greedy = model.score(data.X_test, data.Y_test)
    beam = model.set_params(beam_width=4).score(data.X_test, data.Y_test)
    print(f"\ntest exact match: greedy {greedy:.3f}, beam search of 4 "
          f"{beam:.3f}\n")
    words = args.words or data.X_test[:8]
    for word, phones in zip(words, model.predict(words)):
        print(f"  {word:>12}  {' '.join(phones)}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="seqnet", description="Recurrent sequence models for CPUs.")
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="train a Shakespeare CharRNN and sample")
    d.add_argument("--minutes", type=float, default=3.0,
                   help="training time budget (default 3)")
    d.add_argument("--cell", choices=tuple(_kernels.CELLS), default="lstm")
    d.add_argument("--hidden", type=int, nargs="+", default=[256, 256],
                   help="units per layer (default 256 256)")
    d.add_argument("--batch-size", type=int, default=32)
    d.add_argument("--bptt", type=int, default=64,
                   help="truncated BPTT length (default 64)")
    d.add_argument("--learning-rate", type=float, default=3e-3)
    d.add_argument("--threads", type=int, default=None,
                   help="kernel threads (default: OpenMP's)")
    d.add_argument("--chars", type=int, default=600,
                   help="characters per sample (default 600)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--plot", default="seqnet_demo.png", metavar="PNG",
                   help="where to write the training curves (default "
                   "seqnet_demo.png; '' for none)")
    p = sub.add_parser("pronounce", help="train a spelling-to-phonemes "
                       "SequenceToSequence and pronounce words")
    p.add_argument("words", nargs="*", help="words to pronounce (default: "
                   "eight test words)")
    p.add_argument("--seconds", type=float, default=60.0,
                   help="training time budget (default 60)")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    sub.add_parser("config", help="show ISA paths and threads")
    args = parser.parse_args(argv)
    if args.command == "config":
        show_config()
        return 0
    if args.command == "pronounce":
        if args.seconds <= 0:
            parser.error("--seconds must be positive")
        return pronounce(args)
    if args.minutes <= 0:
        parser.error("--minutes must be positive")
    return demo(args)


if __name__ == "__main__":
    sys.exit(main())
