/* Fuzz harness for the reference firmware, built with AddressSanitizer and UndefinedBehaviorSanitizer by
 * tests/firmware_bridge/test_cfirmware.py:  fuzz SEED MIB
 *
 * Drives rmfw_rx/rmfw_tick with: random bytes in random chunks; valid frames with 1-8 flipped bits; frames cut
 * short; oversize runs; and valid frames of every type with random payloads (the state machine). A corrupted
 * frame must never be accepted, a valid frame after any garbage must be (resynchronization), and the state must
 * stay one of the four. Prints one summary line; exit 0 when every check held.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rmfw.h"

static uint64_t rng_state;
static uint64_t next(void) { /* xorshift64* */
    rng_state ^= rng_state >> 12; rng_state ^= rng_state << 25; rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}
static uint32_t below(uint32_t n) { return (uint32_t)(next() % n); }

static uint32_t sent, refused_tx;
static int uart_write(void *ctx, const uint8_t *data, uint32_t n) {
    (void)ctx;
    if (n == 0 || data[n - 1] != 0) { fprintf(stderr, "a frame without its delimiter\n"); exit(1); }
    for (uint32_t i = 0; i + 1 < n; i++)
        if (data[i] == 0) { fprintf(stderr, "a 0x00 inside an encoded frame\n"); exit(1); }
    if (below(7) == 0) { refused_tx++; return 0; } /* a full transmit ring now and then */
    sent++;
    return 1;
}
static void read_sensors(void *ctx, uint32_t now_us, rmfw_sensors_t *out) {
    (void)ctx;
    for (int j = 0; j < RMFW_MAX_JOINTS; j++) { out->q[j] = (float)(now_us % 1000) * 1e-3f; out->dq[j] = 1e9f; out->tau[j] = -1e9f; }
    out->quat[0] = 1.0f;
    out->gyro[0] = 0.0f / 0.0f; /* NaN: a failed sensor is sent as INVALID, not as undefined behaviour */
}
static void apply(void *ctx, uint32_t now_us, int output, int mode, const float *t, const float *kp, const float *kd) {
    (void)ctx; (void)now_us; (void)mode; (void)kp; (void)kd;
    if (output == RMFW_OUT_ON && t == NULL) { fprintf(stderr, "ON without targets\n"); exit(1); }
}

static rmfw_t fw;
static uint8_t body[RMFW_MAX_BODY], wire[RMFW_MAX_ENCODED + 2];

static uint32_t frame(uint8_t version, uint8_t type, uint16_t seq, const uint8_t *payload, uint32_t n) {
    body[0] = version; body[1] = type; body[2] = 0;
    body[3] = (uint8_t)seq; body[4] = (uint8_t)(seq >> 8);
    memset(body + 5, 0, 6);
    if (n) memcpy(body + RMFW_HEADER, payload, n);
    uint32_t crc = rmfw_crc32c(body, RMFW_HEADER + n, 0);
    for (int k = 0; k < 4; k++) body[RMFW_HEADER + n + k] = (uint8_t)(crc >> (8 * k));
    uint32_t w = rmfw_cobs_encode(body, RMFW_HEADER + n + 4, wire);
    wire[w++] = 0;
    return w;
}

static int check_resync(uint32_t *t) { /* a valid HEARTBEAT right after whatever came before is accepted */
    uint8_t z = 0;
    rmfw_rx(&fw, &z, 1, *t); /* the sender's 0x00 before each frame (docs/protocol.md) */
    uint32_t before = fw.stats.frames;
    uint32_t w = frame(1, RMFW_HEARTBEAT, 1, NULL, 0);
    rmfw_rx(&fw, wire, w, *t);
    *t += 100;
    return fw.stats.frames == before + 1;
}

int main(int argc, char **argv) {
    rng_state = argc > 1 ? strtoull(argv[1], NULL, 10) * 2654435761ULL + 1 : 1;
    uint32_t mib = argc > 2 ? (uint32_t)atoi(argv[2]) : 2;
    rmfw_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.n = 12; cfg.modes = 3; cfg.rate_hz = 1000; cfg.watchdog_ms = 50; cfg.arming_us = 20000;
    for (int j = 0; j < 12; j++) {
        snprintf(cfg.names[j], sizeof cfg.names[j], "joint_%d", j);
        cfg.pos_min[j] = -1.5f; cfg.pos_max[j] = 1.5f; cfg.vel_max[j] = 30; cfg.torque_max[j] = 33.5f;
        cfg.q_scale[j] = 9.5876726e-05f; cfg.dq_scale[j] = 0.0030518f; cfg.tau_scale[j] = 0.0010224f;
        cfg.kp_scale[j] = 0.01f; cfg.kd_scale[j] = 0.001f;
    }
    cfg.gyro_scale = 0.00106815f; cfg.accel_scale = 0.00479019f; cfg.vel_scale = 0.00061037f;
    rmfw_hal_t hal = {uart_write, read_sensors, apply, NULL};
    if (rmfw_init(&fw, &cfg, &hal) != 0) { fprintf(stderr, "init refused\n"); return 1; }
    uint32_t t = 0, bad = 0, resync_fail = 0, corrupted = 0;
    uint8_t buf[4096], payload[400];

    /* 1. random bytes in random chunks */
    for (uint32_t done = 0; done < mib * 1024u * 1024u;) {
        uint32_t n = 1 + below(sizeof buf);
        for (uint32_t i = 0; i < n; i++) buf[i] = (uint8_t)next();
        rmfw_rx(&fw, buf, n, t);
        if (below(4) == 0) rmfw_tick(&fw, t);
        t += 137;
        done += n;
    }
    uint32_t random_accepted = fw.stats.frames;
    if (!check_resync(&t)) resync_fail++;

    /* 2. valid frames with 1-8 flipped bits, and 3. cut short, each followed by a valid frame */
    for (int k = 0; k < 60000; k++) {
        uint32_t n = below(200);
        for (uint32_t i = 0; i < n; i++) payload[i] = (uint8_t)next();
        uint32_t w = frame((uint8_t)(1 + below(2)), (uint8_t)(1 + below(9)), (uint16_t)next(), payload, n);
        if (k % 4 == 3) {
            w = 1 + below(w - 1); /* truncated: the delimiter comes early */
            wire[w - 1] = 0;
        } else {
            /* 1-8 distinct bits (two flips of the same bit would give the frame back unchanged) */
            uint32_t bits[8];
            int flips = 1 + (int)below(8);
            for (int f = 0; f < flips; f++) {
                uint32_t b;
                int seen;
                do {
                    b = below(8 * (w - 1));
                    seen = 0;
                    for (int g = 0; g < f; g++) seen |= bits[g] == b;
                } while (seen);
                bits[f] = b;
                wire[b / 8] ^= (uint8_t)(1u << (b % 8));
            }
        }
        corrupted++;
        uint32_t before = fw.stats.frames;
        uint8_t z = 0;
        rmfw_rx(&fw, &z, 1, t);
        rmfw_rx(&fw, wire, w, t);
        rmfw_rx(&fw, &z, 1, t);
        if (fw.stats.frames != before) bad++; /* a corrupted frame was taken for a valid one */
        if (!check_resync(&t)) resync_fail++;
        if (k % 8 == 0) rmfw_tick(&fw, t);
    }

    /* 4. oversize: a run longer than any frame, then a valid frame */
    for (int k = 0; k < 200; k++) {
        uint32_t n = RMFW_MAX_ENCODED + 1 + below(3000);
        for (uint32_t i = 0; i < n; i++) { uint8_t b = (uint8_t)(1 + below(255)); rmfw_rx(&fw, &b, 1, t); }
        uint32_t before = fw.stats.oversize;
        uint8_t z = 0;
        rmfw_rx(&fw, &z, 1, t);
        if (fw.stats.oversize != before + 1) bad++;
        if (!check_resync(&t)) resync_fail++;
    }

    /* 5. the state machine: valid frames of every type and length, both versions, time going on */
    uint32_t states_seen[4] = {0};
    for (int k = 0; k < 200000; k++) {
        uint8_t type = (uint8_t)(below(10) + (below(20) == 0 ? below(240) : 0));
        uint8_t version = (uint8_t)(1 + below(2));
        uint32_t n;
        if (type == RMFW_COMMAND && below(2)) { /* a well-formed COMMAND of the session's layout, mostly */
            version = fw.version;
            n = 2u + (version == 1 ? 12u : 6u) * 12u;
            for (uint32_t i = 0; i < n; i++) payload[i] = (uint8_t)next();
            payload[0] = (uint8_t)below(3);
            payload[1] = below(10) ? 12 : (uint8_t)next();
        } else {
            n = below(4) ? below(12) : below(sizeof payload);
            for (uint32_t i = 0; i < n; i++) payload[i] = (uint8_t)next();
        }
        uint32_t w = frame(version, type, (uint16_t)(below(3) ? (uint64_t)k : next()), payload, n);
        rmfw_rx(&fw, wire, w, t);
        t += below(1500);
        if (below(2)) rmfw_tick(&fw, t);
        if (fw.state > RMFW_FAULT) { fprintf(stderr, "state %u\n", fw.state); return 1; }
        states_seen[fw.state]++;
        if (below(1000) == 0) t += 0x80000000u; /* the clock wraps */
    }
    printf("{\"random_accepted\": %u, \"corrupted\": %u, \"corrupted_accepted\": %u, \"resync_failures\": %u, "
           "\"crc_errors\": %u, \"cobs_errors\": %u, \"oversize\": %u, \"short\": %u, \"sent\": %u, \"tx_dropped\": %u, "
           "\"states\": [%u, %u, %u, %u], \"commands_applied\": %u}\n",
           random_accepted, corrupted, bad, resync_fail, fw.stats.crc_errors, fw.stats.cobs_errors, fw.stats.oversize,
           fw.stats.short_frames, sent, fw.stats.tx_dropped, states_seen[0], states_seen[1], states_seen[2], states_seen[3],
           fw.stats.commands_applied);
    return (bad || resync_fail || random_accepted) ? 1 : 0;
}
