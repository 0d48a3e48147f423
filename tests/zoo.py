"""Deliberately wrong estimators, each a bug seen in the wild, and the check that must name it.

Each bug claims the tags of the estimator it tries to be. They are built on vaebench's own
chunked log-weight stream where possible, so that they differ from a correct estimator only by
the bug itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vaebench import Estimate, EstimatorSpec, EstimatorTags
from vaebench.estimators._streaming import log_weight_chunks, model_proposal
from vaebench.ops import log_mean_exp
from vaebench.sampling import resolve_generator, sample

IS_TAGS = EstimatorTags(unbiased_in_p=True, lower_bound=True, consistent=True, needs_proposal=True,
                        importance_weighted=True)


def _log_weights(model, x, k, generator):
    q = model_proposal(model, x, None)
    return torch.cat(list(log_weight_chunks(model, x, k, proposal=q, generator=generator)))


def _terms(model, x, k, generator):
    """z ~ q and the three terms of log w, each [K, B]."""
    q = model_proposal(model, x, None)
    z = sample(q, (k,), resolve_generator(generator, x.device))
    return model.log_likelihood(x, z), model.prior.log_prob(z), q.log_prob(z)


def missing_log_k(model, x, k, *, generator=None):
    lw = _log_weights(model, x, k, generator)
    return Estimate(torch.logsumexp(lw, 0), log_weights=lw)


def adds_log_q(model, x, k, *, generator=None):
    lik, prior, logq = _terms(model, x, k, generator)
    return Estimate(log_mean_exp(lik + prior + logq))


def drops_prior(model, x, k, *, generator=None):
    lik, _, logq = _terms(model, x, k, generator)
    return Estimate(log_mean_exp(lik - logq))


def mean_of_log_weights(model, x, k, *, generator=None):
    return Estimate(_log_weights(model, x, k, generator).mean(0))


def lse_over_batch(model, x, k, *, generator=None):
    lw = _log_weights(model, x, k, generator)
    return Estimate((torch.logsumexp(lw.flatten(), 0) - math.log(lw.numel())).expand(x.shape[0]).clone())


def same_z_for_all_points(model, x, k, *, generator=None):
    q = model_proposal(model, x, None)
    eps = torch.randn(k, 1, q.event_shape[0], generator=resolve_generator(generator, x.device), dtype=x.dtype)
    z = q.mean + q.stddev * eps  # one eps shared by every data point
    return Estimate(log_mean_exp(model.log_likelihood(x, z) + model.prior.log_prob(z) - q.log_prob(z)))


def divides_by_k_minus_one(model, x, k, *, generator=None):
    lw = _log_weights(model, x, k, generator)
    return Estimate(torch.logsumexp(lw, 0) - math.log(k - 1) if k > 1 else torch.logsumexp(lw, 0) + math.inf)


def row_shuffle(model, x, k, *, generator=None):
    return Estimate(torch.roll(log_mean_exp(_log_weights(model, x, k, generator)), 1))


def float32_exp_without_max_shift(model, x, k, *, generator=None):
    lw = _log_weights(model, x, k, generator)
    return Estimate(torch.log(torch.exp(lw.float()).mean(0)).to(x.dtype))


def max_instead_of_log_sum_exp(model, x, k, *, generator=None):
    return Estimate(_log_weights(model, x, k, generator).amax(0))


def averages_chunk_estimates(model, x, k, *, generator=None):
    """Chunks of 8, each reduced to its own log-mean-exp, then averaged in log space (Jensen)."""
    lw = _log_weights(model, x, k, generator)
    full = k // 8 * 8
    per_chunk = [log_mean_exp(lw[:full].reshape(-1, 8, lw.shape[1]), dim=1)] if full else []
    if full < k:
        per_chunk.append(log_mean_exp(lw[full:])[None])
    return Estimate(torch.cat(per_chunk).mean(0))


def ignores_generator(model, x, k, *, generator=None):
    q = model_proposal(model, x, None)
    z = q.rsample((k,))  # torch.distributions draws from the global stream
    return Estimate(log_mean_exp(model.log_likelihood(x, z) + model.prior.log_prob(z) - q.log_prob(z)))


def mutates_x(model, x, k, *, generator=None):
    x.add_(1e-9)  # "jitter for numerical stability", in place
    return Estimate(log_mean_exp(_log_weights(model, x, k, generator)))


def always_float32(model, x, k, *, generator=None):
    return Estimate(log_mean_exp(_log_weights(model, x, k, generator)).float())


def unchunked(model, x, k, *, generator=None):
    """Draws all K samples at once: correct numbers, memory that grows with K."""
    q = model_proposal(model, x, None)
    return Estimate(log_mean_exp(next(log_weight_chunks(model, x, k, proposal=q, generator=generator, chunk_size=k))))


@dataclass(frozen=True)
class Bug:
    spec: EstimatorSpec
    caught_by: str
    what: str


def _bug(fn, caught_by: str, what: str, tags: EstimatorTags = IS_TAGS) -> Bug:
    return Bug(EstimatorSpec(fn.__name__, fn, tags, what), caught_by, what)


ZOO = [
    _bug(missing_log_k, "check_log_weights", "forgets −log K"),
    _bug(adds_log_q, "check_unbiased_in_p", "adds log q instead of subtracting it"),
    _bug(drops_prior, "check_unbiased_in_p", "drops the prior term log p(z)"),
    _bug(mean_of_log_weights, "check_unbiased_in_p", "averages log weights (the ELBO) but claims unbiased in p"),
    _bug(lse_over_batch, "check_rows_do_not_interact", "takes the log-sum-exp over the batch dimension too"),
    _bug(same_z_for_all_points, "check_duplicate_rows_are_independent", "uses the same z for every data point"),
    _bug(divides_by_k_minus_one, "check_single_sample", "uses K − 1 in the mean"),
    _bug(row_shuffle, "check_rows_do_not_interact", "returns the estimate of a different data point"),
    _bug(float32_exp_without_max_shift, "check_log_weight_shift_invariance",
         "float32 exp() without the max shift: under/overflows for large |log w|"),
    _bug(max_instead_of_log_sum_exp, "check_lower_bound", "max instead of log-sum-exp: biased upward, claims a lower bound"),
    _bug(averages_chunk_estimates, "check_consistent", "averages per-chunk log estimates: bias stops shrinking"),
    _bug(ignores_generator, "check_reproducible", "ignores the generator (draws from the global stream)"),
    _bug(mutates_x, "check_does_not_mutate_inputs", "modifies x in place"),
    _bug(always_float32, "check_dtype_and_device", "returns float32 whatever the input dtype"),
    _bug(unchunked, "check_bounded_memory", "draws all K samples at once: memory grows with K"),
]
