"""Fine-tuning: warm start from a checkpoint, frozen modules, and vocabulary extension with frozen rows.

``run.py --warm-start CKPT`` copies every checkpoint tensor whose name and shape fit the freshly built model
(our checkpoints and the NGC layout with ``module.`` prefixes) and reports what was loaded, what kept its
fresh initialisation (shape mismatch, absent from the checkpoint, or named by ``--ignore-layers``) and what
was ignored (in the checkpoint, not in the model). Unlike ``--checkpoint-path`` the optimizer and the epoch
start afresh. When a resume checkpoint exists, it wins, and the warm start at most provides its symbol
table (see Resuming below).

``--freeze encoder postnet`` takes module name prefixes: their parameters get ``requires_grad=False`` and
are left out of the optimizer; their BatchNorm layers run in inference mode, so the running statistics
stay as loaded too.

``--extend-vocabulary ko`` (and/or ``--symbols-from-data``) appends the new symbols to the checkpoint's
table (its config ``symbols``, or the 148-symbol NGC table). The embedding grows; its original rows are
copied and stay bitwise frozen through training (`FrozenRows`): their gradient is zeroed, so they do not
count towards gradient clipping, and after every optimizer step they are written back from a saved copy,
which also undoes Adam's weight decay (added to the gradient inside ``step()``). The extended table is
saved with the model (config ``symbols``), and the dataset and inference map text with it.

Speakers (a model with speaker and language tables; the parameter names and merges are its recipe's
`FineTuneRules`): warm-starting a conditioned model from a single-speaker checkpoint copies every compatible
weight; the decoder's inputs gain zero columns for the speaker/language vectors (`CopyBlocks`), so the
converted model starts out computing exactly what the checkpoint did; the speaker embedding is new. From a
multi-speaker checkpoint, the model's speakers are the checkpoint's (ids kept) plus those of the training
data; the existing speakers' embedding rows are copied by name and, when speakers are added, kept bitwise
frozen like the symbols.

Resuming (``--resume-from-last`` / ``--checkpoint-path``): every training checkpoint records its fine-tuning
plan under ``finetune`` (`FineTuning.record`: the flags as given, ``--warm-start``, ``--ignore-layers``,
``--freeze``, ``--extend-vocabulary``, ``--symbols-from-data``, and the frozen rows per parameter; plain
lists, strings and ints). A resume follows that record, not the flags: fine-tuning flags left out are
restored from it (one line says which), so frozen modules stay out of the optimizer and frozen rows stay
bitwise, and the warm-start checkpoint is not read again (the symbol table, speakers and languages come
from the resumed checkpoint's config). A fine-tuning flag that is given but differs from the record is a
one-line error naming the checkpoint and its flags: the optimizer state and the frozen rows only fit the
recorded plan; a new plan is a new run (``--warm-start`` that checkpoint). A run without fine-tuning flags
records an empty plan, so ``--freeze`` cannot be added on resume either. Checkpoints written before the
record existed resume as before, from the flags; an optimizer state that does not fit the trainable
parameters (other ``--freeze`` flags) is then a one-line error instead of a torch traceback.
"""

from __future__ import annotations

from common.training.finetune.freezing import (
    FrozenRows,
    freeze_modules,
    module_names,
    trainable_parameters,
)
from common.training.finetune.plan import (
    PLAN_KEY,
    FineTuning,
    plan_flags,
)
from common.training.finetune.transfer import (
    CopyBlocks,
    CopyRows,
    FinetuneError,
    Merge,
    TransferReport,
    matching_pattern,
    transfer_weights,
)
from common.training.finetune.vocabulary import (
    checkpoint_symbol_table,
    extend_symbol_table,
    merged_names,
)
from common.training.recipe import FineTuneRules

__all__ = [
    "CopyBlocks",
    "CopyRows",
    "PLAN_KEY",
    "FineTuning",
    "FineTuneRules",
    "FinetuneError",
    "FrozenRows",
    "Merge",
    "TransferReport",
    "checkpoint_symbol_table",
    "extend_symbol_table",
    "freeze_modules",
    "matching_pattern",
    "merged_names",
    "module_names",
    "plan_flags",
    "trainable_parameters",
    "transfer_weights",
]
