"""Deliberately wrong estimators, each a bug seen in the wild, and the check that must name it.

Each bug claims the tags of the estimator it tries to be. They are built on vaebench's own
chunked log-weight stream where possible, so that they differ from a correct estimator only by
the bug itself.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

from torch.distributions import Independent, Normal, kl_divergence

from vaebench import Estimate, EstimatorSpec, EstimatorTags, Option
from vaebench.estimators import annealing, hmc
from vaebench.estimators.posterior_draws import POSTERIOR_DRAWS
from vaebench.estimators.reverse_ais import POSTERIOR_SAMPLES
from vaebench.estimators.streaming import (
    CHUNK_SIZE,
    KEEP_LOG_WEIGHTS,
    PROPOSAL,
    importance_estimate,
    log_weight_chunks,
    model_proposal,
)
from vaebench.ops import effective_sample_size, log_mean_exp
from vaebench.sampling import resolve_generator, sample

IS_TAGS = EstimatorTags(unbiased_in_p=True, lower_bound=True, consistent=True, needs_proposal=True,
                        importance_weighted=True, bounded_memory=True)
ELBO_TAGS = EstimatorTags(lower_bound=True, needs_proposal=True, elbo_in_expectation=True, bounded_memory=True)
# What a plug-in author who does not know the optional tags would declare.
PLAIN_TAGS = EstimatorTags(unbiased_in_p=True, lower_bound=True, consistent=True, needs_proposal=True)


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


# ----------------------------------------------------------------------------- bias-order bugs
JVI_TAGS = EstimatorTags(consistent=True, needs_proposal=True, exact_at_posterior=True, bias_order=2)


def iwae_claiming_second_order(model, x, k, *, generator=None):
    """The plain IWAE bound (bias −χ²/2K) under the jackknife's claim of a 1/K² bias."""
    return Estimate(log_mean_exp(_log_weights(model, x, k, generator)))


def jackknife_halves_the_correction(model, x, k, *, generator=None):
    """L_K + (K − 1)/2 · mean_i (L_K − L^(−i)): half the jackknife's correction, so half the 1/K term stays."""
    from vaebench.estimators.jackknife import leave_one_out_drops

    lw = _log_weights(model, x, k, generator)
    if k == 1:
        return Estimate(log_mean_exp(lw))
    return Estimate((log_mean_exp(lw).double() + (k - 1) / 2 * leave_one_out_drops(lw).mean(0)).to(lw.dtype))


# ----------------------------------------------------------------------------- unbiased-in-log-p bugs
SUMO_TAGS = EstimatorTags(unbiased_in_log_p=True, consistent=True, needs_proposal=True, exact_at_posterior=True,
                          bounded_memory=True)


def _roulette(model, x, k, generator, survival_of):
    from vaebench.estimators import sumo

    q = model_proposal(model, x, None)
    g = resolve_generator(generator, x.device)
    extra = sumo.draw_extra_terms(x.shape[0], k, 1.5, g, x.device)
    value = sumo.roulette_series(model, x, k, extra, survival_of, proposal=q, encoder=True, generator=g)
    return Estimate(value.to(x.dtype), num_samples=k)


def iwae_claiming_unbiased_log_p(model, x, k, *, generator=None):
    """The plain IWAE bound (bias −χ²/2K) under SUMO's claim E[log p̂] = log p."""
    return Estimate(log_mean_exp(_log_weights(model, x, k, generator)))


def roulette_without_reweighting(model, x, k, *, generator=None):
    """SUMO's series cut at the random J but its terms not divided by P(J >= j): E = E[L_{K+J}] < log p."""
    return _roulette(model, x, k, generator, lambda j: torch.ones_like(j, dtype=torch.float64))


def roulette_survival_off_by_one(model, x, k, *, generator=None):
    """Divides the j-th term by P(J > j) = P(J >= j + 1) instead of P(J >= j): over-corrects."""
    from vaebench.estimators import sumo

    return _roulette(model, x, k, generator, lambda j: sumo.survival(j + 1, k, 1.5))


# ----------------------------------------------------------------------------- bounds in the limit, posterior draws
CUBO_TAGS = EstimatorTags(upper_bound_in_limit=True, needs_proposal=True, exact_at_posterior=True, bounded_memory=True)


def cubo_claiming_every_k(model, x, k, *, generator=None):
    """CUBO_2 (biased low at finite K; the ELBO at K = 1) claiming an upper bound at every K."""
    from vaebench.estimators import cubo

    return cubo.estimate(model, x, k, generator=generator)


def renyi_claiming_upper_in_limit(model, x, k, *, generator=None):
    """The Rényi bound at α = 0.5 (limit log p − D_α < log p) claiming CUBO's upper bound in the limit."""
    from vaebench.estimators import renyi

    return renyi.estimate(model, x, k, generator=generator, alpha=0.5)


def elbo_claiming_upper_in_limit(model, x, k, *, generator=None):
    """The ELBO (limit ELBO < log p) claiming an upper bound in the limit."""
    from vaebench.estimators import elbo

    return elbo.estimate(model, x, k, generator=generator)


HM_TAGS = EstimatorTags(upper_bound=True, needs_exact_posterior=True)


def harmonic_mean_over_prior_draws(model, x, k, *, generator=None, posterior_samples=None):
    """The harmonic mean over prior draws instead of the posterior draws it is given."""
    z = sample(model.prior, (k, x.shape[0]), resolve_generator(generator, x.device))
    return Estimate(-log_mean_exp(-model.log_likelihood(x, z)))


def eubo_over_encoder_draws(model, x, k, *, generator=None, posterior_samples=None):
    """The mean log weight over encoder draws (the ELBO) instead of posterior draws, claiming the EUBO's bound."""
    return Estimate(_log_weights(model, x, k, generator).mean(0))


SMC_TAGS = EstimatorTags(unbiased_in_p=True, lower_bound=True, consistent=True, needs_proposal=True, needs_grad=True,
                         exact_at_posterior=True)


def smc_resamples_by_squared_weights(model, x, k, *, generator=None):
    """Tempered SMC whose resampling draws ancestors in proportion to w² (a doubled log weight), not w."""
    from vaebench.estimators import smc

    ann = annealing.make_annealing(model, x, num_steps=4, schedule_kind="sigmoid", leapfrog_steps=2, step_size=None,
                                   init=None, proposal=None, chunk_size=None)
    log_z = smc.particle_filter(ann, k, generator, resample=lambda lw, g: smc.multinomial_resample(2 * lw, g))
    return Estimate(log_z.to(x.dtype), num_samples=k)


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


# ----------------------------------------------------------------------------- bugs past the first chunk
def _chunks(model, x, k, generator, chunk, proposal=None):
    """(z, log w) for each chunk of at most ``chunk`` samples, z ~ q: a typical hand-written loop."""
    q = model_proposal(model, x, proposal)
    g = resolve_generator(generator, x.device)
    done = 0
    while done < k:
        n = min(chunk, k - done)
        z = sample(q, (n,), g)
        yield z, model.log_likelihood(x, z) + model.prior.log_prob(z) - q.log_prob(z)
        done += n


def reuses_first_chunk_z(model, x, k, *, generator=None):
    """Chunks of 2048; the z of the first chunk are reused in every later chunk."""
    q = model_proposal(model, x, None)
    z = sample(q, (min(k, 2048),), resolve_generator(generator, x.device))
    parts, done = [], 0
    while done < k:
        n = min(2048, k - done)
        parts.append(model.log_likelihood(x, z[:n]) + model.prior.log_prob(z[:n]) - q.log_prob(z[:n]))
        done += n
    lw = torch.cat(parts)
    return Estimate(log_mean_exp(lw), log_weights=lw)


def keeps_last_chunk_only(model, x, k, *, generator=None):
    """Chunks of 2048; the accumulator is overwritten instead of merged: only the last chunk counts."""
    for _, lw in _chunks(model, x, k, generator, 2048):
        last = lw
    return Estimate(log_mean_exp(last))


def merge_without_rescale(model, x, k, *, generator=None, chunk_size=None):
    """Merges the chunks' log-means by log-sum-exp without dividing by the number of chunks."""
    acc = None
    for _, lw in _chunks(model, x, k, generator, chunk_size or 2048):
        acc = log_mean_exp(lw) if acc is None else torch.logaddexp(acc, log_mean_exp(lw))
    return Estimate(acc)


def float32_running_sum(model, x, k, *, generator=None, chunk_size=None):
    """The core bug this kit now catches: the running log-sum-exp kept in the input dtype."""
    acc = None
    for _, lw in _chunks(model, x, k, generator, chunk_size or 4096):
        lse = torch.logsumexp(lw, 0)
        acc = lse if acc is None else torch.logaddexp(acc, lse)
    return Estimate(acc - math.log(k))


# ----------------------------------------------------------------------------- B = 1, options, diagnostics
def single_point_fast_path(model, x, k, *, generator=None):
    """A 'fast path' for one data point that samples from the prior instead of the encoder."""
    if x.shape[0] == 1:
        g = resolve_generator(generator, x.device)
        z = sample(model.prior, (k, 1), g)
        return Estimate(log_mean_exp(model.log_likelihood(x, z)))
    return Estimate(log_mean_exp(_log_weights(model, x, k, generator)))


def ignores_proposal_option(model, x, k, *, generator=None, proposal=None):
    """Declares proposal= but always samples from the model's encoder."""
    return Estimate(log_mean_exp(_log_weights(model, x, k, generator)))


def analytic_kl_reversed(model, x, k, *, generator=None, analytic_kl=False):
    """ELBO whose closed-form branch computes KL(p(z) ‖ q) instead of KL(q ‖ p(z))."""
    q = model_proposal(model, x, None)
    if not analytic_kl:
        return Estimate(_log_weights(model, x, k, generator).mean(0))
    z = sample(q, (k,), resolve_generator(generator, x.device))
    return Estimate(model.log_likelihood(x, z).mean(0) - kl_divergence(model.prior, q))


def ess_from_log_weights(model, x, k, *, generator=None):
    """ESS computed with the log weights in place of the weights."""
    lw = _log_weights(model, x, k, generator)
    ess = lw.sum(0) ** 2 / (lw**2).sum(0)
    return Estimate(log_mean_exp(lw), log_weights=lw, ess=ess)


def stderr_without_sqrt_k(model, x, k, *, generator=None):
    """Delta-method standard error that forgets to divide the relative variance by K."""
    lw = _log_weights(model, x, k, generator)
    ess = effective_sample_size(lw)
    return Estimate(log_mean_exp(lw), ess=ess, stderr=torch.sqrt((k / ess - 1).clamp_min(0)))


def keep_log_weights_changes_estimate(model, x, k, *, generator=None, keep_log_weights=True):
    """With keep_log_weights=False it returns a cheaper 'approximation' (the mean of log w)."""
    lw = _log_weights(model, x, k, generator)
    if keep_log_weights:
        return Estimate(log_mean_exp(lw), log_weights=lw)
    return Estimate(lw.mean(0))


# ----------------------------------------------------------------------------- narrow problems, state, truth
def standard_normal_prior(model, x, k, *, generator=None):
    """Hard-codes p(z) = N(0, I) instead of asking the model for its prior."""
    q = model_proposal(model, x, None)
    z = sample(q, (k,), resolve_generator(generator, x.device))
    prior = Independent(Normal(torch.zeros_like(z), torch.ones_like(z)), 1)
    return Estimate(log_mean_exp(model.log_likelihood(x, z) + prior.log_prob(z) - q.log_prob(z)))


def truncated_weights(model, x, k, *, generator=None):
    """Truncated importance sampling (Ionides, 2008): weights capped at √K times their mean.
    Harmless for light tails, biased low for heavy ones."""
    lw = _log_weights(model, x, k, generator)
    cap = log_mean_exp(lw) + 0.5 * math.log(k)
    return Estimate(log_mean_exp(torch.minimum(lw, cap)))


def reproducible_only_for_gaussians(model, x, k, *, generator=None):
    """Uses the generator for Gaussian proposals, and q.sample() (the global stream) otherwise."""
    q = model_proposal(model, x, None)
    base = q.base_dist if isinstance(q, Independent) else q
    z = sample(q, (k,), resolve_generator(generator, x.device)) if isinstance(base, Normal) or type(
        base).__name__ == "MultivariateNormal" else q.sample((k,))
    return Estimate(log_mean_exp(model.log_likelihood(x, z) + model.prior.log_prob(z) - q.log_prob(z)))


_CACHE: dict = {}


def caches_proposal(model, x, k, *, generator=None):
    """Builds q(z | x) once per batch shape and reuses it ("the encoder is expensive")."""
    q = _CACHE.setdefault(tuple(x.shape), model_proposal(model, x, None))
    z = sample(q, (k,), resolve_generator(generator, x.device))
    return Estimate(log_mean_exp(model.log_likelihood(x, z) + model.prior.log_prob(z) - q.log_prob(z)))


def uses_the_truth(model, x, k, *, generator=None):
    """A 'control variate' that reaches for the model's exact log p(x)."""
    exact = model.log_marginal(x).to(x.dtype)
    lw = _log_weights(model, x, k, generator)
    return Estimate(exact + 0.0 * log_mean_exp(lw))


def posterior_when_offered(model, x, k, *, generator=None):
    """Samples from model.posterior(x) "when the model offers one" (hasattr-guarded): the optimal proposal."""
    q = model.posterior(x) if hasattr(model, "posterior") else model_proposal(model, x, None)
    return Estimate(log_mean_exp(torch.cat(list(log_weight_chunks(model, x, k, proposal=q, generator=generator)))))


def blends_log_marginal(model, x, k, *, generator=None):
    """Blends the estimate with model.log_marginal(x) "as a control variate", where the model has it."""
    est = log_mean_exp(_log_weights(model, x, k, generator))
    if hasattr(model, "log_marginal"):
        est = 0.5 * est + 0.5 * model.log_marginal(x).to(x.dtype)
    return Estimate(est)


def truth_by_getattr_default(model, x, k, *, generator=None):
    """getattr(model, "kl_to_posterior", None): an ELBO "corrected" by the model's KL when offered."""
    lw = _log_weights(model, x, k, generator)
    kl = getattr(model, "kl_to_posterior", None)
    est = lw.mean(0)
    if kl is not None:
        est = est + 0.0 * kl(None, x).to(x.dtype)  # "only a sanity check": reads the truth, changes nothing
    return Estimate(est, log_weights=lw)


def weights_not_aggregated(model, x, k, *, generator=None):
    """Correct estimate, but the returned 'log weights' are log p(x | z) without the prior and q terms."""
    q = model_proposal(model, x, None)
    z = sample(q, (k,), resolve_generator(generator, x.device))
    lik = model.log_likelihood(x, z)
    return Estimate(log_mean_exp(lik + model.prior.log_prob(z) - q.log_prob(z)), log_weights=lik)


# ----------------------------------------------------------------------------- annealing bugs
AIS_TAGS = EstimatorTags(unbiased_in_p=True, lower_bound=True, consistent=True, needs_proposal=True, needs_grad=True,
                         bounded_memory=True, exact_at_posterior=True)
REVERSE_TAGS = EstimatorTags(upper_bound=True, needs_proposal=True, needs_grad=True, needs_exact_posterior=True,
                             bounded_memory=True, exact_at_posterior=True)


def _annealing(model, x, transition=hmc.hmc_transition):
    return annealing.make_annealing(model, x, num_steps=4, schedule_kind="sigmoid", leapfrog_steps=2, step_size=None,
                                    init=None, proposal=None, chunk_size=None, transition=transition)


def _leapfrog_without_metropolis(path, state, beta, step_size, leapfrog_steps, generator):
    eps = step_size.to(state.z.dtype).unsqueeze(-1)
    p = torch.randn(state.z.shape, generator=generator, dtype=state.z.dtype, device=state.z.device)
    p = p + 0.5 * eps * state.grad(beta)
    new = state
    for step in range(leapfrog_steps):
        new = path.evaluate(new.z + eps * p)
        p = p + (eps if step < leapfrog_steps - 1 else 0.5 * eps) * new.grad(beta)
    return new, torch.full_like(new.a, hmc.TARGET_ACCEPTANCE)


def ais_without_metropolis(model, x, k, *, generator=None):
    chains = annealing.forward_log_weights(_annealing(model, x, _leapfrog_without_metropolis), k, generator)
    return importance_estimate(chains, k, True)


def ais_increment_after_transition(model, x, k, *, generator=None):
    ann = _annealing(model, x)
    g, sizes = annealing.prepare_chains(ann, generator)
    z, _ = ann.path.draw_initial(k, g)
    state, log_w = ann.path.evaluate(z), 0.0
    betas = ann.betas.tolist()
    for t in range(1, len(betas)):
        if t < len(betas) - 1:
            state, _ = ann.transition(ann.path, state, betas[t], sizes[t - 1], ann.leapfrog_steps, g)
        log_w = log_w + (betas[t] - betas[t - 1]) * state.h  # H after the move, not before it
    return Estimate(log_mean_exp(log_w), log_weights=log_w)


def reverse_ais_from_the_encoder(model, x, k, *, generator=None, posterior_samples=None):
    ann = _annealing(model, x)
    start = sample(ann.path.q0, (k,), resolve_generator(generator, x.device))  # ignores the exact samples
    from vaebench.ops import StreamingLogMeanExp

    acc = StreamingLogMeanExp()
    for log_w in annealing.reverse_log_weights(ann, start, k, generator):
        acc.update(log_w)
    return Estimate(-acc.log_mean().to(x.dtype))


# ----------------------------------------------------------------------------- one step outside a fixed grid (issue 18)
def caps_samples(model, x, k, *, generator=None, chunk_size=None, keep_log_weights=True):
    """"At most 32768 samples are ever needed": draws min(K, 32768) and averages those."""
    q = model_proposal(model, x, None)
    used = min(k, 32768)
    lw = torch.cat(list(log_weight_chunks(model, x, used, proposal=q, generator=generator, chunk_size=chunk_size)))
    return Estimate(log_mean_exp(lw), log_weights=lw.repeat((k + used - 1) // used, 1)[:k] if keep_log_weights else None)


def wraps_kept_weights(model, x, k, *, generator=None, chunk_size=None, keep_log_weights=True):
    """Keeps the weights in a ring buffer of 4096 rows when chunks are large and the batch small (a
    "memory optimisation"): later chunks overwrite earlier rows; the estimate itself is right."""
    q = model_proposal(model, x, None)
    acc, kept, start = None, None, 0
    for lw in log_weight_chunks(model, x, k, proposal=q, generator=generator, chunk_size=chunk_size):
        lse = torch.logsumexp(lw.double(), 0)
        acc = lse if acc is None else torch.logaddexp(acc, lse)
        if keep_log_weights:
            kept = x.new_empty((k, x.shape[0])) if kept is None else kept
            ring = chunk_size is not None and chunk_size > 100 and x.shape[0] < 8
            rows = (torch.arange(start, start + lw.shape[0]) % 4096) if ring else torch.arange(start, start + lw.shape[0])
            kept[rows] = lw
        start += lw.shape[0]
    return Estimate((acc - math.log(k)).to(x.dtype), log_weights=kept)


def half_precision_running_sum(model, x, k, *, generator=None, chunk_size=None):
    """Accumulates in float64, except for 16-bit inputs, where it "keeps the input precision" (fast path)."""
    acc_dtype = x.dtype if x.dtype in (torch.bfloat16, torch.float16) else torch.float64
    acc = None
    for _, lw in _chunks(model, x, k, generator, chunk_size or 64):
        lse = torch.logsumexp(lw.to(acc_dtype), 0)
        acc = lse if acc is None else torch.logaddexp(acc, lse)
    return Estimate((acc.double() - math.log(k)).to(x.dtype))


def isotropic_factorised_prior(model, x, k, *, generator=None):
    """For a factorised prior Independent(Normal) "assumes isotropy": one scale (the first) for every coordinate."""
    q = model_proposal(model, x, None)
    z = sample(q, (k,), resolve_generator(generator, x.device))
    prior = model.prior
    if isinstance(prior, Independent) and isinstance(prior.base_dist, Normal):
        base = prior.base_dist
        prior = Independent(Normal(base.loc, base.scale[..., :1].expand_as(base.scale)), 1)
    return Estimate(log_mean_exp(model.log_likelihood(x, z) + prior.log_prob(z) - q.log_prob(z)))


def clamps_log_weights(model, x, k, *, generator=None):
    """Clamps log weights at −150 "against underflow" (as some libraries clamp log-probabilities)."""
    return Estimate(log_mean_exp(_log_weights(model, x, k, generator).clamp(min=-150.0)))


def ais_schedule_off_grid(model, x, k, *, generator=None, num_steps=4, leapfrog_steps=2):
    """A schedule built for T in {1, 2, 4, 8}; at other T its last inverse temperature is 1 − 1/T, not 1."""
    from dataclasses import replace as _replace

    ann = annealing.make_annealing(model, x, num_steps=num_steps, schedule_kind="sigmoid",
                                   leapfrog_steps=leapfrog_steps, step_size=None, init=None, proposal=None,
                                   chunk_size=None)
    if num_steps not in (1, 2, 4, 8):
        ann = _replace(ann, betas=ann.betas * (1 - 1 / num_steps))
    return importance_estimate(annealing.forward_log_weights(ann, k, generator), k, True)


def reverse_shared_start_first_row(model, x, k, *, generator=None, posterior_samples=None, num_steps=4,
                                   leapfrog_steps=2):
    """Given one start per point ([B, d]), broadcasts the first row's start to every point."""
    ann = annealing.make_annealing(model, x, num_steps=num_steps, schedule_kind="sigmoid",
                                   leapfrog_steps=leapfrog_steps, step_size=None, init=None, proposal=None,
                                   chunk_size=None)
    if posterior_samples.dim() == 2:
        posterior_samples = posterior_samples[:1].expand_as(posterior_samples)
    from vaebench.ops import StreamingLogMeanExp

    acc = StreamingLogMeanExp()
    for log_w in annealing.reverse_log_weights(ann, posterior_samples, k, generator):
        acc.update(log_w)
    return Estimate(-acc.log_mean().to(x.dtype))


@dataclass(frozen=True)
class Bug:
    spec: EstimatorSpec
    caught_by: str
    what: str


def _bug(fn, caught_by: str, what: str, tags: EstimatorTags = IS_TAGS, options: tuple = (), kit: dict | None = None) -> Bug:
    return Bug(EstimatorSpec(fn.__name__, fn, tags, what, options, kit_options=kit or {}), caught_by, what)


_AIS_OPTIONS = (annealing.NUM_STEPS, annealing.LEAPFROG_STEPS)
_AIS_KIT = {"num_steps": 4, "leapfrog_steps": 2}


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
    _bug(iwae_claiming_second_order, "check_bias_order", "the IWAE bound claiming the jackknife's 1/K² bias",
         tags=JVI_TAGS),
    _bug(jackknife_halves_the_correction, "check_bias_order", "applies half the jackknife correction: a 1/K bias "
         "remains", tags=JVI_TAGS),
    _bug(iwae_claiming_unbiased_log_p, "check_unbiased_in_log_p", "the IWAE bound claiming SUMO's E[log p̂] = log p",
         tags=SUMO_TAGS),
    _bug(roulette_without_reweighting, "check_unbiased_in_log_p",
         "Russian roulette whose terms are not reweighted by 1/P(J >= j)", tags=SUMO_TAGS),
    _bug(roulette_survival_off_by_one, "check_unbiased_in_log_p", "reweights term j by 1/P(J >= j + 1)",
         tags=SUMO_TAGS),
    _bug(cubo_claiming_every_k, "check_upper_bound", "CUBO claiming an upper bound at every K (it holds only in "
         "the limit)", tags=dataclasses.replace(CUBO_TAGS, upper_bound=True)),
    _bug(renyi_claiming_upper_in_limit, "check_upper_bound_in_limit", "the Rényi bound at α = 0.5 claiming an "
         "upper bound in the limit", tags=CUBO_TAGS),
    _bug(elbo_claiming_upper_in_limit, "check_upper_bound_in_limit", "the ELBO claiming an upper bound in the limit",
         tags=CUBO_TAGS),
    _bug(harmonic_mean_over_prior_draws, "check_upper_bound", "harmonic mean over prior draws, not posterior ones",
         tags=HM_TAGS, options=(POSTERIOR_DRAWS,)),
    _bug(eubo_over_encoder_draws, "check_upper_bound", "EUBO over encoder draws (the ELBO)",
         tags=dataclasses.replace(HM_TAGS, needs_proposal=True), options=(POSTERIOR_DRAWS,)),
    _bug(smc_resamples_by_squared_weights, "check_unbiased_in_p", "SMC resampling in proportion to w² instead of w",
         tags=SMC_TAGS),
    _bug(ignores_generator, "check_reproducible", "ignores the generator (draws from the global stream)"),
    _bug(mutates_x, "check_does_not_mutate_inputs", "modifies x in place"),
    _bug(always_float32, "check_dtype_and_device", "returns float32 whatever the input dtype"),
    _bug(unchunked, "check_bounded_memory", "claims bounded memory but draws all K samples at once"),
    # Found by the red team of issue 9: one per class of what the first kit missed.
    _bug(reuses_first_chunk_z, "check_large_k", "reuses the first chunk's z in every chunk (K > 2048)"),
    _bug(keeps_last_chunk_only, "check_large_k", "keeps only the last chunk (K > 2048)"),
    _bug(merge_without_rescale, "check_chunk_size_option", "merges chunk log-means without rescaling",
         options=(CHUNK_SIZE,)),
    _bug(float32_running_sum, "check_float32_accumulation_at_large_k",
         "float32 running log-sum-exp that stalls at large K", options=(CHUNK_SIZE,)),
    _bug(single_point_fast_path, "check_single_point_batch", "B = 1 fast path samples from the prior"),
    _bug(ignores_proposal_option, "check_proposal_option", "declares proposal= and ignores it",
         options=(PROPOSAL,)),
    _bug(analytic_kl_reversed, "check_claims_under_every_option_value", "analytic_kl=True computes KL(p ‖ q)",
         tags=ELBO_TAGS, options=(Option("analytic_kl", bool, False, "closed-form KL"),)),
    _bug(ess_from_log_weights, "check_ess", "ESS from the log weights instead of the weights"),
    _bug(stderr_without_sqrt_k, "check_stderr_calibrated", "stderr without the 1/√K"),
    _bug(keep_log_weights_changes_estimate, "check_keep_log_weights_option",
         "keep_log_weights=False returns a different estimate", options=(KEEP_LOG_WEIGHTS,)),
    _bug(standard_normal_prior, "check_unbiased_in_p", "hard-codes an N(0, I) prior"),
    _bug(truncated_weights, "check_unbiased_in_p", "truncated importance weights (biased under heavy tails)"),
    _bug(reproducible_only_for_gaussians, "check_reproducible", "global stream for non-Gaussian proposals"),
    _bug(caches_proposal, "check_calls_in_sequence", "caches q(z|x) between calls"),
    _bug(uses_the_truth, "check_returns_estimate", "reaches for the model's exact log p(x)", tags=PLAIN_TAGS),
    _bug(weights_not_aggregated, "check_log_weights", "returns weights that log_px does not aggregate",
         tags=PLAIN_TAGS),
    # Reaching for the truth when the model offers it (issue 19): fall back to honest work on the bare contract.
    _bug(posterior_when_offered, "check_sees_only_the_contract", "samples from model.posterior when hasattr says so"),
    _bug(blends_log_marginal, "check_sees_only_the_contract", "blends in model.log_marginal as a 'control variate'"),
    _bug(truth_by_getattr_default, "check_sees_only_the_contract",
         "reads getattr(model, 'kl_to_posterior', None) (unchanged estimate, truth read)", tags=ELBO_TAGS),
    # One step outside a fixed grid (issue 18): caught only by drawing configurations from their domains.
    _bug(caps_samples, "check_exact_identities_explored", "uses at most 32768 samples whatever K",
         options=(CHUNK_SIZE, KEEP_LOG_WEIGHTS)),
    _bug(wraps_kept_weights, "check_exact_identities_explored",
         "kept weights in a 4096-row ring buffer when chunk_size > 100 and B < 8", options=(CHUNK_SIZE, KEEP_LOG_WEIGHTS)),
    _bug(half_precision_running_sum, "check_exact_identities_explored",
         "running log-sum-exp in the input dtype for bfloat16 / float16 inputs", options=(CHUNK_SIZE,)),
    _bug(isotropic_factorised_prior, "check_exact_identities_explored",
         "one prior scale for every coordinate of a factorised prior"),
    _bug(clamps_log_weights, "check_exact_identities_explored", "clamps log weights at −150 (far-out rows)"),
    _bug(ais_schedule_off_grid, "check_claims_explored", "AIS schedule ends at β = 1 − 1/T unless T ∈ {1, 2, 4, 8}",
         tags=AIS_TAGS, options=_AIS_OPTIONS, kit=_AIS_KIT),
    _bug(reverse_shared_start_first_row, "check_claims_explored",
         "reverse AIS broadcasts the first point's start when given one start per point [B, d]", tags=REVERSE_TAGS,
         options=(POSTERIOR_SAMPLES,) + _AIS_OPTIONS, kit=_AIS_KIT),
    # Annealing (issue 14).
    _bug(ais_without_metropolis, "check_unbiased_in_p", "AIS with leapfrog moves but no Metropolis correction",
         tags=AIS_TAGS),
    _bug(ais_increment_after_transition, "check_unbiased_in_p",
         "AIS adds (β_t − β_{t−1}) H at the state after the move instead of before it", tags=AIS_TAGS),
    _bug(reverse_ais_from_the_encoder, "check_upper_bound",
         "reverse AIS started from the encoder instead of exact posterior samples", tags=REVERSE_TAGS,
         options=(POSTERIOR_SAMPLES,)),
]
