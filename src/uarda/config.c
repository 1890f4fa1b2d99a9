/* UARDA's relevance configuration: the names of its choices and the check of a configuration
 * (spec uarda.md 4.7; include/uarda/relevance.h). */
#include "uarda/relevance.h"
#include "uarda/relevance_internal.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * names */

static const char *const T_MODES[] = {"zero", "fixed", "adaptive"};
static const char *const T_ESTS[] = {"naaf_compat", "clean", "mixture"};
static const char *const NEG_SRCS[] = {"least", "hardest", "random"};
static const char *const T_TESTS[] = {"safe", "train", "fixed"};
static const char *const SEPS[] = {"none", "gauss", "hinge"};

static int find(const char *const *names, int n, const char *s)
{
    if (!s) return -1;
    for (int i = 0; i < n; i++) if (strcmp(names[i], s) == 0) return i;
    return -1;
}

static const char *name_of(const char *const *names, int n, int v) { return v >= 0 && v < n ? names[v] : "?"; }

int ua_t_mode_parse(const char *s) { return find(T_MODES, 3, s); }
int ua_t_est_parse(const char *s) { return find(T_ESTS, 3, s); }
int ua_neg_src_parse(const char *s) { return find(NEG_SRCS, 3, s); }
int ua_t_test_parse(const char *s) { return find(T_TESTS, 3, s); }
int ua_sep_parse(const char *s) { return find(SEPS, 3, s); }
const char *ua_t_mode_name(ua_t_mode m) { return name_of(T_MODES, 3, (int)m); }
const char *ua_t_est_name(ua_t_est e) { return name_of(T_ESTS, 3, (int)e); }
const char *ua_neg_src_name(ua_neg_src n) { return name_of(NEG_SRCS, 3, (int)n); }
const char *ua_t_test_name(ua_t_test t) { return name_of(T_TESTS, 3, (int)t); }
const char *ua_sep_name(ua_sep_mode s) { return name_of(SEPS, 3, (int)s); }

/* ---------------------------------------------------------------------------------------------
 * configuration */


int ua_relevance_cfg_check(const ua_relevance_cfg *cfg, const char *name, ua_err *err)
{
    if ((unsigned)cfg->t_mode > UA_T_ADAPTIVE) return ua_fail(err, "%s: t_mode %d is not zero|fixed|adaptive", name, (int)cfg->t_mode);
    if ((unsigned)cfg->t_est > UA_T_EST_MIXTURE) return ua_fail(err, "%s: t_est %d is not naaf_compat|clean|mixture", name, (int)cfg->t_est);
    if ((unsigned)cfg->neg_src > UA_NEG_RANDOM) return ua_fail(err, "%s: neg_src %d is not least|hardest|random", name, (int)cfg->neg_src);
    if ((unsigned)cfg->t_test > UA_T_TEST_FIXED) return ua_fail(err, "%s: t_test %d is not safe|train|fixed", name, (int)cfg->t_test);
    if ((unsigned)cfg->sep > UA_SEP_HINGE) return ua_fail(err, "%s: sep %d is not none|gauss|hinge", name, (int)cfg->sep);
    if (!isfinite(cfg->t_fixed)) return ua_fail(err, "%s: t_fixed must be a finite number", name);
    if (!(cfg->alpha > 0) || !isfinite(cfg->alpha)) return ua_fail(err, "%s: alpha %g must be > 0", name, cfg->alpha);
    if (!(cfg->ema > 0 && cfg->ema <= 1)) return ua_fail(err, "%s: ema %g must be in (0, 1]", name, cfg->ema);
    if (!(cfg->lambda_sep >= 0) || !isfinite(cfg->lambda_sep)) return ua_fail(err, "%s: lambda_sep %g must be >= 0", name, cfg->lambda_sep);
    if (!(cfg->hinge_delta >= 0) || !isfinite(cfg->hinge_delta)) return ua_fail(err, "%s: hinge_delta %g must be >= 0", name, cfg->hinge_delta);
    if (cfg->ring_size < 2 || cfg->ring_size > UA_REL_RING_MAX) return ua_fail(err, "%s: ring_size %d must be in [2, %d]", name, cfg->ring_size, UA_REL_RING_MAX);
    const int rings = cfg->t_est != UA_T_EST_NAAF_COMPAT;
    int min_min = rings ? 2 : 1;
    if (cfg->min_samples < min_min) return ua_fail(err, "%s: min_samples %d must be >= %d", name, cfg->min_samples, min_min);
    if (rings && cfg->min_samples > cfg->ring_size)
        return ua_fail(err, "%s: min_samples %d exceeds ring_size %d (the rings would never leave their warm-up)", name,
                       cfg->min_samples, cfg->ring_size);
    return 0;
}
