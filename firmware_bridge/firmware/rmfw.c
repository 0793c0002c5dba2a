/* robot-meta reference firmware: framing, CRC, handshake, state machine, watchdog, e-stop, fault codes.
 * The rules it implements are numbered in docs/protocol.md ("Handshake and firmware state machine") and its
 * behaviour is the Python virtual robot's (firmware_bridge/virtual_robot.py), tested frame for frame against it.
 */
#include "rmfw.h"

#include <math.h>
#include <string.h>

/* ---- little-endian helpers ------------------------------------------------------------------------------ */
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void wr32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static float rdf(const uint8_t *p) { float f; uint32_t u = rd32(p); memcpy(&f, &u, 4); return f; }
static void wrf(uint8_t *p, float f) { uint32_t u; memcpy(&u, &f, 4); wr32(p, u); }
static int32_t since(uint32_t now, uint32_t then) { return (int32_t)(now - then); } /* wrap-safe */

/* ---- CRC-32C (Castagnoli, reflected 0x82F63B78), bitwise: no table, 1 KiB of flash saved -------------------- */
uint32_t rmfw_crc32c(const uint8_t *data, uint32_t n, uint32_t crc) {
    uint32_t c = crc ^ 0xFFFFFFFFu;
    for (uint32_t i = 0; i < n; i++) {
        c ^= data[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

/* ---- COBS ---------------------------------------------------------------------------------------------- */
/* Data that ends right after a full block of 254 non-zero bytes gets no final code byte (as the host's `cobs`
 * package encodes); a decoder takes either form. */
uint32_t rmfw_cobs_encode(const uint8_t *in, uint32_t n, uint8_t *out) {
    uint32_t code_at = 0, o = 1;
    uint8_t code = 1;
    int full = 0;
    for (uint32_t i = 0; i < n; i++) {
        full = 0;
        if (in[i] == 0) {
            out[code_at] = code; code_at = o++; code = 1;
        } else {
            out[o++] = in[i];
            if (++code == 0xFF) { out[code_at] = code; code_at = o++; code = 1; full = 1; }
        }
    }
    if (full) return o - 1; /* drop the slot reserved for a block that never came */
    out[code_at] = code;
    return o;
}

int32_t rmfw_cobs_decode(const uint8_t *in, uint32_t n, uint8_t *out, uint32_t cap) {
    uint32_t i = 0, o = 0;
    while (i < n) {
        uint8_t code = in[i];
        if (code == 0) return RMFW_E_COBS;
        uint32_t end = i + code;
        if (end > n) return RMFW_E_COBS;
        for (uint32_t k = i + 1; k < end; k++) {
            if (in[k] == 0) return RMFW_E_COBS;
            if (o >= cap) return RMFW_E_OVERSIZE;
            out[o++] = in[k];
        }
        i = end;
        if (code < 0xFF && i < n) {
            if (o >= cap) return RMFW_E_OVERSIZE;
            out[o++] = 0;
        }
    }
    return (int32_t)o;
}

int32_t rmfw_decode_body(const uint8_t *enc, uint32_t n, uint8_t *body) {
    if (n > RMFW_MAX_ENCODED) return RMFW_E_OVERSIZE;
    int32_t len = rmfw_cobs_decode(enc, n, body, RMFW_MAX_BODY);
    if (len < 0) return len;
    if (len < RMFW_HEADER + RMFW_CRC) return RMFW_E_SHORT;
    if (rmfw_crc32c(body, (uint32_t)len - RMFW_CRC, 0) != rd32(body + len - RMFW_CRC)) return RMFW_E_CRC;
    if (body[0] != 1 && body[0] != 2) return RMFW_E_VERSION;
    if (body[2] & 0xF0) return RMFW_E_FLAGS; /* no incompatible flag is defined in versions 1 and 2 */
    return len;
}

size_t rmfw_sizeof(void) { return sizeof(rmfw_t); }

/* ---- sending ------------------------------------------------------------------------------------------- */
static uint8_t *payload_out(rmfw_t *fw) { return fw->out_body + RMFW_HEADER; }

/* Frame the payload already written at payload_out(fw) and hand it to the UART (never blocks). */
static void send(rmfw_t *fw, uint8_t type, uint32_t n, uint8_t version) {
    uint8_t *b = fw->out_body;
    fw->seq = (uint16_t)(fw->seq + 1);
    b[0] = version; b[1] = type; b[2] = 0; /* no flag is defined in versions 1 and 2 */
    wr16(b + 3, fw->seq); wr32(b + 5, fw->now_us); wr16(b + 9, fw->last_cmd_seq);
    uint32_t len = RMFW_HEADER + n;
    wr32(b + len, rmfw_crc32c(b, len, 0));
    uint32_t w = rmfw_cobs_encode(b, len + RMFW_CRC, fw->out_wire);
    fw->out_wire[w++] = 0;
    fw->stats.tx_frames++;
    if (!fw->hal.uart_write(fw->hal.ctx, fw->out_wire, w)) fw->stats.tx_dropped++;
}

static void send_fault(rmfw_t *fw, uint8_t code, uint16_t detail) {
    uint8_t *p = payload_out(fw);
    p[0] = code; wr16(p + 1, detail);
    send(fw, RMFW_FAULT_MSG, 3, fw->version);
}

static int16_t to_fixed(float x, double scale) {
    if (isnan(x)) return RMFW_INVALID;
    double r = rint((double)x / scale); /* round half to even, as numpy's rint */
    if (!(r < 32767.0)) return 32767; /* +inf too */
    if (!(r > -32767.0)) return -32767;
    return (int16_t)r;
}

/* STATE with the sensors as of now. */
static void send_state(rmfw_t *fw) {
    rmfw_sensors_t s;
    memset(&s, 0, sizeof s);
    fw->hal.read_sensors(fw->hal.ctx, fw->now_us, &s);
    const rmfw_config_t *c = &fw->cfg;
    uint8_t *p = payload_out(fw), n = c->n;
    p[0] = fw->state; p[1] = fw->fault; p[2] = n;
    uint32_t o = 3;
    const float *arrays[3] = {s.q, s.dq, s.tau};
    const float *scales[3] = {c->q_scale, c->dq_scale, c->tau_scale};
    const float *imu[4] = {s.quat, s.gyro, s.accel, s.base_vel};
    const int imu_n[4] = {4, 3, 3, 3};
    const double imu_scale[4] = {1.0 / 32767.0, c->gyro_scale, c->accel_scale, c->vel_scale};
    if (fw->version == 1) {
        for (int a = 0; a < 3; a++)
            for (int j = 0; j < n; j++, o += 4) wrf(p + o, arrays[a][j]);
        for (int a = 0; a < 4; a++)
            for (int k = 0; k < imu_n[a]; k++, o += 4) wrf(p + o, imu[a][k]);
    } else {
        for (int a = 0; a < 3; a++)
            for (int j = 0; j < n; j++, o += 2) wr16(p + o, (uint16_t)to_fixed(arrays[a][j], scales[a][j]));
        for (int a = 0; a < 4; a++)
            for (int k = 0; k < imu_n[a]; k++, o += 2) wr16(p + o, (uint16_t)to_fixed(imu[a][k], imu_scale[a]));
    }
    send(fw, RMFW_STATE, o, fw->version);
}

/* Version 2: ACK, the answer to the COMMAND just applied (ack_seq its seq, t_dev_us now). */
static void send_ack(rmfw_t *fw) {
    uint8_t *p = payload_out(fw);
    p[0] = fw->state; p[1] = fw->fault;
    send(fw, RMFW_ACK, 2, fw->version);
}

static void send_hello_ack(rmfw_t *fw, uint8_t version) {
    const rmfw_config_t *c = &fw->cfg;
    uint8_t *p = payload_out(fw);
    uint32_t o = 0;
    p[o++] = version;
    wr32(p + o, version == 1 ? RMFW_SCHEMA_HASH_V1 : RMFW_SCHEMA_HASH_V2); o += 4;
    wr16(p + o, c->watchdog_ms); o += 2;
    wr16(p + o, c->rate_hz); o += 2;
    p[o++] = c->n;
    if (version >= 2) p[o++] = c->modes;
    for (int j = 0; j < c->n; j++) {
        uint8_t ln = (uint8_t)strlen(c->names[j]);
        p[o++] = ln;
        memcpy(p + o, c->names[j], ln); o += ln;
        wrf(p + o, c->pos_min[j]); wrf(p + o + 4, c->pos_max[j]); wrf(p + o + 8, c->vel_max[j]);
        wrf(p + o + 12, c->torque_max[j]); o += 16;
        if (version >= 2) {
            wrf(p + o, c->q_scale[j]); wrf(p + o + 4, c->dq_scale[j]); wrf(p + o + 8, c->tau_scale[j]);
            wrf(p + o + 12, c->kp_scale[j]); wrf(p + o + 16, c->kd_scale[j]); o += 20;
        }
    }
    if (version >= 2) {
        wrf(p + o, c->gyro_scale); wrf(p + o + 4, c->accel_scale); wrf(p + o + 8, c->vel_scale); o += 12;
    }
    send(fw, RMFW_HELLO_ACK, o, version);
}

/* ---- state machine ------------------------------------------------------------------------------------- */
static void output(rmfw_t *fw, int out, const float *target, const float *kp, const float *kd) {
    int mode = (fw->cfg.modes & (1u << RMFW_POSITION)) ? RMFW_POSITION : RMFW_TORQUE;
    fw->hal.apply(fw->hal.ctx, fw->now_us, out, mode, target, kp, kd);
}

static void enter_fault(rmfw_t *fw, uint8_t code, uint16_t detail) {
    fw->state = RMFW_FAULT;
    fw->fault = code;
    fw->fault_us = fw->now_us;
    fw->has_fault_us = 1;
    output(fw, RMFW_OUT_DAMP, NULL, NULL, NULL);
    send_fault(fw, code, detail);
}

static void report(rmfw_t *fw, uint8_t code, uint16_t seq) {
    fw->stats.refused[code & 7]++;
    send_fault(fw, code, seq);
}

static void advance(rmfw_t *fw, uint32_t now_us) {
    if (since(now_us, fw->now_us) > 0) fw->now_us = now_us; /* never backwards */
    now_us = fw->now_us;
    if ((fw->state == RMFW_ARMING || fw->state == RMFW_ACTIVE) &&
        since(now_us, fw->last_cmd_us) > (int32_t)fw->cfg.watchdog_ms * 1000)
        enter_fault(fw, RMFW_F_WATCHDOG, 0);
    if (fw->state == RMFW_ARMING) {
        int32_t el = since(now_us, fw->arm_start_us);
        double frac = fw->cfg.arming_us ? (double)(el < 0 ? 0 : el) / (double)fw->cfg.arming_us : 1.0;
        if (frac > 1.0) frac = 1.0;
        if (fw->cfg.modes & (1u << RMFW_POSITION)) {
            float target[RMFW_MAX_JOINTS];
            for (int j = 0; j < fw->cfg.n; j++)
                target[j] = (float)(fw->arm_from[j] + frac * (fw->cfg.default_pose[j] - fw->arm_from[j]));
            output(fw, RMFW_OUT_ON, target, fw->cfg.arm_kp, fw->cfg.arm_kd);
        }
        if (frac >= 1.0) fw->state = RMFW_ACTIVE;
    }
}

static float clampf(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }

static void command(rmfw_t *fw, const uint8_t *body, uint32_t n, uint32_t rx) {
    const rmfw_config_t *c = &fw->cfg;
    uint16_t seq = rd16(body + 3);
    const uint8_t *p = body + RMFW_HEADER;
    if (fw->state != RMFW_ARMING && fw->state != RMFW_ACTIVE) { report(fw, RMFW_F_NOT_ARMED, seq); return; }
    /* another version's layout would be misread; wrong joint count or any byte more or less: latched */
    uint32_t want = 2u + (fw->version == 1 ? 12u : 6u) * c->n;
    if (body[0] != fw->version || n != want || p[1] != c->n) { enter_fault(fw, RMFW_F_BAD_COMMAND, seq); return; }
    uint8_t mode = p[0];
    float target[RMFW_MAX_JOINTS], kp[RMFW_MAX_JOINTS], kd[RMFW_MAX_JOINTS];
    for (int j = 0; j < c->n; j++) {
        if (fw->version == 1) {
            target[j] = rdf(p + 2 + 4 * j);
            kp[j] = rdf(p + 2 + 4 * (c->n + j));
            kd[j] = rdf(p + 2 + 4 * (2 * c->n + j));
        } else {
            int16_t raw = (int16_t)rd16(p + 2 + 2 * j);
            float sc = mode == RMFW_POSITION ? c->q_scale[j] : c->tau_scale[j];
            target[j] = raw == RMFW_INVALID ? NAN : (float)((double)raw * (double)sc);
            kp[j] = (float)((double)rd16(p + 2 + 2 * (c->n + j)) * (double)c->kp_scale[j]);
            kd[j] = (float)((double)rd16(p + 2 + 2 * (2 * c->n + j)) * (double)c->kd_scale[j]);
        }
        if (!isfinite(target[j]) || !isfinite(kp[j]) || !isfinite(kd[j])) { enter_fault(fw, RMFW_F_BAD_COMMAND, seq); return; }
    }
    if (mode > 1 || !(c->modes & (1u << mode))) { enter_fault(fw, RMFW_F_BAD_COMMAND, seq); return; }
    uint16_t delta = (uint16_t)(seq - fw->last_cmd_seq);
    if (fw->accepted_any && !(delta > 0 && delta < 0x8000)) { report(fw, RMFW_F_STALE_SEQ, seq); return; }
    fw->accepted_any = 1;
    fw->last_cmd_us = rx;
    fw->last_cmd_seq = seq;
    if (fw->state != RMFW_ACTIVE) return; /* ARMING: it fed the watchdog; the soft start drives the joints */
    for (int j = 0; j < c->n; j++)        /* the firmware's own limits, whatever the host sent */
        target[j] = mode == RMFW_POSITION ? clampf(target[j], c->pos_min[j], c->pos_max[j])
                                          : clampf(target[j], -c->torque_max[j], c->torque_max[j]);
    if (fw->version >= 2) {
        advance(fw, rx); /* version 2: the time (and the physics) to this COMMAND, applied at once, then ACK */
        output(fw, RMFW_OUT_ON, target, kp, kd);
        fw->stats.commands_applied++;
        send_ack(fw);
        return;
    }
    output(fw, RMFW_OUT_ON, target, kp, kd);
    fw->stats.commands_applied++;
}

static void handle(rmfw_t *fw, const uint8_t *body, uint32_t len, uint32_t rx_us) {
    uint8_t type = body[1];
    uint16_t seq = rd16(body + 3);
    uint32_t n = len - RMFW_HEADER - RMFW_CRC;
    uint32_t rx = since(rx_us, fw->now_us) > 0 ? rx_us : fw->now_us;
    if (type != RMFW_COMMAND) {
        if (fw->handled >= RMFW_MAX_FRAMES_PER_TICK) { fw->stats.rx_dropped++; return; } /* bounded work */
        fw->handled++;
    }
    int want = type == RMFW_HELLO ? 8 : (type >= RMFW_ARM && type <= RMFW_HEARTBEAT) ? 0 : -1;
    if (want >= 0 && n != (uint32_t)want) { report(fw, RMFW_F_BAD_LENGTH, seq); return; }
    switch (type) {
    case RMFW_HELLO:
        /* answered in the HELLO's own version; the session changes version only while DISARMED */
        if (fw->state == RMFW_DISARMED) fw->version = body[0];
        send_hello_ack(fw, body[0]);
        return;
    case RMFW_ESTOP: enter_fault(fw, RMFW_F_ESTOP, 0); return;
    case RMFW_DISARM:
        fw->state = RMFW_DISARMED; fw->fault = RMFW_F_NONE;
        output(fw, RMFW_OUT_OFF, NULL, NULL, NULL);
        return;
    case RMFW_ARM:
        fw->stats.arm_requests++;
        if (fw->state == RMFW_DISARMED) { /* ARM in FAULT is ignored: leaving FAULT takes DISARM first */
            rmfw_sensors_t s;
            memset(&s, 0, sizeof s);
            fw->hal.read_sensors(fw->hal.ctx, fw->now_us, &s);
            memcpy(fw->arm_from, s.q, sizeof(float) * fw->cfg.n);
            fw->state = RMFW_ARMING;
            fw->arm_start_us = fw->now_us;
            fw->last_cmd_us = rx; /* the watchdog starts now */
            fw->accepted_any = 0;
            if (fw->cfg.modes & (1u << RMFW_POSITION)) output(fw, RMFW_OUT_ON, fw->arm_from, fw->cfg.arm_kp, fw->cfg.arm_kd);
            else {
                float zero[RMFW_MAX_JOINTS] = {0};
                output(fw, RMFW_OUT_ON, zero, zero, zero);
            }
        }
        return;
    case RMFW_COMMAND: command(fw, body, n, rx); return;
    default: return; /* HEARTBEAT and unknown types: nothing to do (and they do not feed the watchdog) */
    }
}

/* ---- entry points -------------------------------------------------------------------------------------- */
int rmfw_init(rmfw_t *fw, const rmfw_config_t *cfg, const rmfw_hal_t *hal) {
    if (!fw || !cfg || !hal || !hal->uart_write || !hal->read_sensors || !hal->apply) return -1;
    if (cfg->n == 0 || cfg->n > RMFW_MAX_JOINTS) return -2;
    if (cfg->rate_hz == 0 || cfg->watchdog_ms == 0) return -3;
    if (!(cfg->modes & 3u)) return -4;
    for (int j = 0; j < cfg->n; j++) {
        if (strlen(cfg->names[j]) > RMFW_NAME_MAX) return -5;
        if (!(cfg->q_scale[j] > 0) || !(cfg->dq_scale[j] > 0) || !(cfg->tau_scale[j] > 0) || !(cfg->kp_scale[j] > 0) ||
            !(cfg->kd_scale[j] > 0))
            return -6;
    }
    if (!(cfg->gyro_scale > 0) || !(cfg->accel_scale > 0) || !(cfg->vel_scale > 0)) return -6;
    memset(fw, 0, sizeof *fw);
    fw->cfg = *cfg;
    fw->hal = *hal;
    fw->version = 1;
    fw->state = RMFW_DISARMED;
    fw->hal.apply(fw->hal.ctx, 0, RMFW_OUT_OFF, RMFW_TORQUE, NULL, NULL, NULL);
    return 0;
}

void rmfw_rx(rmfw_t *fw, const uint8_t *data, uint32_t n, uint32_t rx_us) {
    for (uint32_t i = 0; i < n; i++) {
        uint8_t b = data[i];
        if (b != 0) {
            if (fw->overflow) continue;
            if (fw->rx_len >= RMFW_MAX_ENCODED) { fw->overflow = 1; fw->rx_len = 0; continue; } /* before decoding */
            fw->rx[fw->rx_len++] = b;
            continue;
        }
        if (fw->overflow) fw->stats.oversize++;
        else if (fw->rx_len) {
            int32_t len = rmfw_decode_body(fw->rx, fw->rx_len, fw->body);
            switch (len) {
            case RMFW_E_OVERSIZE: fw->stats.oversize++; break;
            case RMFW_E_COBS: fw->stats.cobs_errors++; break;
            case RMFW_E_SHORT: fw->stats.short_frames++; break;
            case RMFW_E_CRC: fw->stats.crc_errors++; break;
            case RMFW_E_VERSION: fw->stats.version_errors++; break;
            case RMFW_E_FLAGS: fw->stats.flag_errors++; break;
            default: fw->stats.frames++; handle(fw, fw->body, (uint32_t)len, rx_us);
            }
        }
        fw->rx_len = 0;
        fw->overflow = 0;
    }
}

void rmfw_tick(rmfw_t *fw, uint32_t now_us) {
    advance(fw, now_us);
    /* every tick reports the sensors as of the tick (the freshest a host can act on); version 2 answers each
     * applied COMMAND with an ACK as well */
    send_state(fw);
    fw->handled = 0;
}
