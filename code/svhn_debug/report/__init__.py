"""Numbers, tables, figures and sentences for the prose, read from the cached results.

One module per job: :mod:`.words` (how a value reads inline, and the claim guard),
:mod:`.results` (what the cache holds), :mod:`.decisions` (statistics read out under the
book's rule, and their sentences), :mod:`.tables` and :mod:`.figures`. Chapters import this
package and call its names directly (``report.pct``, ``report.decision_table``).
"""

from __future__ import annotations

from . import words
from .words import (  # noqa: F401
    Inline,
    pct,
    pp,
    points,
    printed_difference,
    num,
    sci,
    code,
    ClaimFailed,
    claim,
)
from . import results
from .results import (  # noqa: F401
    SeedStats,
    stats,
    final,
    all_seeds,
    by_seed,
    label_shares,
    label_entropy,
    majority_share,
    majority_digit,
    max_step_loss_difference,
    growth,
    confusion_rate,
    cache_summary,
    last_loss,
    cockpit_mean,
    cockpit_share,
    cockpit_value_at,
    ends_on_plateau,
    plateau_seeds,
    plateau_epochs,
    bench_result,
    time_to_accuracy,
    diagnosis,
    first_step,
    bug_checks,
    images_read,
    pipeline_ms_per_image,
    epoch_losses,
    lr_growth_at_last_epoch,
    trial_value,
    heldout_prior,
    dominant_prediction,
    dominant_prediction_share,
    split_overlaps,
    rising_epoch_share,
    late_rise,
    best_test_gap,
    peak,
    gradient_histogram_shares,
    histogram_bin_width,
    full_svhn_lr_growth,
    last_epoch_changes,
)
from . import decisions
from .decisions import (  # noqa: F401
    paired,
    decision,
    adopted,
    OUTCOME_WORDS,
    verdict,
    decision_record,
    adopted_path,
    ladder,
    final_recipe,
    paired_gains,
    matters,
    ablation,
    bug_effects,
    against_bar,
    bar_sentence,
    time_to_accuracy_text,
    YARDSTICK,
    misreport,
    horizon_reading,
    data_and_budget,
    checks_corpus_text,
)
from . import tables
from .tables import (  # noqa: F401
    markdown_table,
    changes_table,
    lineage_table,
    profile_table,
    timing_table,
    overlap_table,
    best_vs_final_table,
    bug_table,
    ablation_table,
    SHORT_OUTCOME,
    decision_table,
    findings_table,
    bug_checks_table,
    codes_table,
)
from . import figures
from .figures import (  # noqa: F401
    ladder_figure,
    summary_figures,
)
