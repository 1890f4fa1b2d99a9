/* The wording of eval's time comparison (ua_time_against): a percentage and "less" or "more",
 * never a signed percentage. */
#include "helpers.h"

#include <stdio.h>
#include <string.h>

#include "uarda/compare.h"

static void test_less_and_more(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(ua_time_against(8.0, 10.0, b, sizeof b), "20% less");
    assert_string_equal(ua_time_against(12.0, 10.0, b, sizeof b), "20% more");
    assert_string_equal(ua_time_against(10.0, 10.0, b, sizeof b), "0% less");
    assert_string_equal(ua_time_against(30.45, 29.90, b, sizeof b), "2% more");   /* docs/peers.md's i2t row */
    assert_string_equal(ua_time_against(10.04, 10.0, b, sizeof b), "0% more");    /* slower, if only just */
    assert_string_equal(ua_time_against(0.0, 10.0, b, sizeof b), "100% less");
    assert_string_equal(ua_time_against(25.0, 10.0, b, sizeof b), "150% more");
    /* no reference time (nothing measured): no percentage to speak of */
    assert_string_equal(ua_time_against(5.0, 0.0, b, sizeof b), "0% less");
    assert_string_equal(ua_time_against(5.0, -1.0, b, sizeof b), "0% less");
}

static void test_never_signed(void **state)
{
    (void)state;
    char b[32];
    for (int i = 0; i <= 400; i++) {
        const double t = 0.05 * i;   /* 0 to 20 s against 10 s */
        ua_time_against(t, 10.0, b, sizeof b);
        assert_null(strchr(b, '-'));
        assert_non_null(strstr(b, t <= 10.0 ? "% less" : "% more"));
    }
}

static void test_short_buffer(void **state)
{
    (void)state;
    char b[8];
    memset(b, 'x', sizeof b);
    const char *s = ua_time_against(8.0, 10.0, b, 5);
    assert_ptr_equal(s, b);
    assert_string_equal(b, "20% ");   /* cut, terminated, nothing written past n */
    assert_int_equal(b[5], 'x');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_less_and_more),
        cmocka_unit_test(test_never_signed),
        cmocka_unit_test(test_short_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
