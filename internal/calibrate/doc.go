// Package calibrate decides, from a gate's own enrolled gallery, how face
// recognition may be used there: how likely a stranger is to be let in under
// a given threshold and margin at the gallery's current size, which policy
// keeps that under a target (default: at most 1 stranger accepted in 10,000
// attempts), and whether face may identify alone (1:N), may only confirm the
// holder of a card (1:1, in place of the PIN), or must not be used.
//
// It owns only arithmetic on descriptors handed to it. It never reads a
// store, never logs, keeps no state between calls, and never sends anything
// anywhere: the gallery it measures is the residents' face data, and the
// figures stay on the device with it.
//
// # The statistics
//
// A stranger at the gate is compared with every one of the N residents; the
// gate accepts when the nearest resident's nearest template is under the
// threshold t (and the runner-up is at least the margin farther). Let F(t) be
// the chance that one stranger falls under t for one given resident (the
// resident-level false match rate: the minimum over that resident's
// templates). Whatever the correlations between residents, the union bound
// gives
//
//	P(stranger accepted) <= P(some resident under t) <= N * F(t),
//
// and, were the residents independent, 1 - (1 - F(t))^N, which is nearly the
// same for small F. A margin only removes acceptances, so the bound holds for
// every margin; the package does not credit the margin with a reduction it
// cannot estimate at these rates. (The leave-one-resident-out rate, which does
// include the margin, is reported beside it as what the gallery shows.)
//
// F is estimated from the gallery alone, taking residents as a sample of the
// people who come to the gate: for each template a of resident A and each
// other resident B, the score min_b |a - b| is one draw from the distribution
// a stranger's face would have against B. With T templates there are about
// T*(N-1) such scores. The target needs F far below what so few scores can
// show directly (at N = 67 and a target of 1e-4, F must be under 1.5e-6), so
// the lower tail is extrapolated: on the probit scale, Φ⁻¹(F(s)) is fitted as
// a straight line in s through the lowest TailShare of the scores (by least
// squares on plotting positions (i - 0.5)/n), and F(t) = Φ(a + b t). The
// uncertainty of that fit comes from a bootstrap over residents (scores are
// correlated through the people they involve, so residents, not scores, are
// resampled): the upper bound used for every decision is the Confidence
// quantile (default 95%) of the replicates' F(t), and never less than the
// empirical share of scores under t. With fewer than MinResidents residents
// the estimate is refused (ErrTooFew).
//
// That the tail is straight on the probit scale is an assumption, not a law:
// a heavier tail (look-alikes, twins, one photo filed under two names) would
// make the bound too low. It was checked where data can check it: fitted on
// half of idols.json, the bound is not under what all 134 people show down to
// F = 1e-4, and the policies chosen for targets from 1e-4 to 5e-2 held for
// the held-out people of idols.json, the East Asian photos and LFW
// (docs/accuracy.md).
//
// A gate that fuses several frames into one probe (face.frames, Config.Fuse)
// is not a gate of single frames: a fused descriptor has less of one
// frame's noise, so it lies nearer to everyone, strangers' residents
// included. On idols.json, the 1:N threshold chosen from single templates
// for 1 in 100 let in 11 of 191 strangers presented as fused windows of 3
// photos; with Fuse 3 the different-resident scores come from fused probes
// (sets of a resident's templates, fused as the gate fuses frames), the
// threshold falls from 0.272 to 0.241 and none of them got in. Residents'
// figures stay single-template, which fusion only improves.
//
// One face filed under two names (the same person enrolled as two
// residents, or a photo under the wrong resident) is no evidence about
// strangers, yet a single such pair puts two scores at distance ~0: on a
// gallery of 80 LFW residents, 2 of ~19,000 scores is an empirical share
// over 1e-4 at every t > 0, so both thresholds fell to 0 (and the pair's
// leverage flattened the fit and its bootstrap). Two residents with
// templates closer than Config.Duplicate (default 0.2) times the median
// different-resident template distance are therefore taken for one face:
// the scores between the two of them (both ways) are left out, every
// template stays a target for everyone else's probes (so enrolling copies
// of others' photos cannot loosen the bound), they still count in the
// residents' figures (as the misidentifications they are), and the pair is
// listed in Estimate.Duplicates and the decision's reason for staff to
// resolve. The cut is far under the closest different people
// seen (dlib: 0.16 against 0.43 on LFW, about 0.1 against 0.27 on
// idols.json; fr-feature 0.28 against 1.09); a look-alike farther than it
// stays counted, as it should.
//
// Residents' own accept rate comes from the same gallery: each template of a
// resident with two or more is presented, leave-one-out, to the gallery
// without it, under the policy. Templates of the resident in the probe's
// capture (chained to it by distances under the same cut: frames of one
// visit at the kiosk, near-copies of each other) are left out with it: a copy would vouch for its twin, and a
// gallery enrolled in one visit per resident shows nothing about how the
// camera will see them on another day (the mode is then off, and the reason
// says so). Each resident counts once (the mean of their own shares). This errs both ways: optimistic, because
// enrollment templates pass a quality gate that live frames at the gate do
// not; pessimistic, because a live probe faces all of the resident's
// templates, not all but one. Its interval (Interval) treats residents, not
// attempts, as the unit, and a mode is offered only if the low end of it
// accepts MinAccept: on the East Asian photos, held-out residents did at
// least as well as that low end in every calibrated run (docs/accuracy.md),
// but a gate whose residents enroll from better photos than they show the
// camera will see less. It is used only to judge whether a mode is worth
// offering; safety comes from the stranger bound.
//
// # Determinism
//
// The estimate is a function of the templates and Seed alone: residents are
// put in an order given by their templates (never their IDs, the map's
// order or the order they enrolled in), and sampling, the tail's bootstrap
// and the residents' intervals each draw from their own seeded stream. The
// same templates give the same mode and thresholds after a restart, a
// restore or a re-enrollment under new IDs. How much the choice owes to the
// luck of the bootstrap is shown by Spread, which repeats it with other
// seeds (`gated calibrate`, "firmness").
//
// The check that matters is on people the gallery never saw: the tests enroll
// half of the people of real data sets, choose a policy from that gallery
// alone, and present the other half as strangers.
//
// # Modes
//
// Choose offers Identify when a policy keeps N * F(t) under the target and
// still accepts at least MinAccept of residents' attempts (with at most
// MaxMisidentify of them taken for another resident). Otherwise it offers
// Verify, where a card names the resident and the face must match that one
// resident: a stranger holding someone's card is accepted with chance F(t),
// with no factor N. Where even that cannot keep the target at MinAccept, the
// mode is Off: card and PIN only.
//
// # Caveats
//
// The estimate assumes that strangers resemble residents as much as residents
// resemble each other: true of a compound's visitors, less so of a twin.
// The stranger rate grows with the gallery, so the daemon must estimate again
// after enrollments. Estimating takes time in T·min(T, MaxProbes): 13 ms for
// 201 templates, 1.6 s for 3,000 (docs/performance.md, "Face models and
// calibration"); galleries of more than MaxProbes templates are sampled, so
// the time then grows only linearly. Run it when the gate is quiet.
package calibrate
