/* robot-meta reference firmware: the robot side of docs/protocol.md (versions 1 and 2) in portable C99.
 *
 * No heap, no globals: every byte lives in one `rmfw_t` the board allocates (statically). The board supplies
 * a hardware-abstraction layer of three functions (`rmfw_hal_t`) and calls two entry points:
 *   rmfw_rx(fw, bytes, n, rx_us)  from its UART receive path, with the time the bytes arrived (us);
 *   rmfw_tick(fw, now_us)         once per control period from its timer.
 * Everything the firmware sends goes out through hal.uart_write, which must never block: a frame that does
 * not fit the transmit ring is dropped and counted, as a UART DMA ring drops it.
 *
 * Little-endian targets (ARM Cortex-M, x86, RISC-V in its usual configuration): float32 fields are copied as
 * they are. Time is a free-running 32-bit microsecond counter; every comparison is wrap-safe.
 */
#ifndef RMFW_H
#define RMFW_H

#include <stddef.h>
#include <stdint.h>

#define RMFW_MAX_JOINTS 24
#define RMFW_NAME_MAX 32
#define RMFW_MAX_BODY 1024 /* header + payload + CRC; the delimiter not counted */
#define RMFW_MAX_ENCODED (RMFW_MAX_BODY + RMFW_MAX_BODY / 254 + 2)
#define RMFW_HEADER 11
#define RMFW_CRC 4
#define RMFW_MAX_FRAMES_PER_TICK 8 /* frames other than COMMAND handled between two ticks */
#define RMFW_INVALID (-32768)      /* version 2: "not a number" */

#define RMFW_SCHEMA_HASH_V1 0x8CE9ED6Eu
#define RMFW_SCHEMA_HASH_V2 0x28676E03u

enum rmfw_type {
    RMFW_HELLO = 1, RMFW_HELLO_ACK = 2, RMFW_STATE = 3, RMFW_COMMAND = 4, RMFW_ARM = 5,
    RMFW_DISARM = 6, RMFW_ESTOP = 7, RMFW_HEARTBEAT = 8, RMFW_FAULT_MSG = 9, RMFW_ACK = 10
};
enum rmfw_state { RMFW_DISARMED = 0, RMFW_ARMING = 1, RMFW_ACTIVE = 2, RMFW_FAULT = 3 };
enum rmfw_fault {
    RMFW_F_NONE = 0, RMFW_F_WATCHDOG = 1, RMFW_F_ESTOP = 2, RMFW_F_JOINT_LIMIT = 3, RMFW_F_BAD_COMMAND = 4,
    RMFW_F_NOT_ARMED = 5, RMFW_F_STALE_SEQ = 6, RMFW_F_BAD_LENGTH = 7
};
enum rmfw_mode { RMFW_POSITION = 0, RMFW_TORQUE = 1 };
enum rmfw_output { RMFW_OUT_OFF = 0, RMFW_OUT_ON = 1, RMFW_OUT_DAMP = 2 };

/* What the sensors read, in physical units (rad, rad/s, N m; quaternion w,x,y,z; body-frame rad/s, m/s^2, m/s). */
typedef struct {
    float q[RMFW_MAX_JOINTS], dq[RMFW_MAX_JOINTS], tau[RMFW_MAX_JOINTS];
    float quat[4], gyro[3], accel[3], base_vel[3];
} rmfw_sensors_t;

typedef struct {
    /* queue a whole frame for transmission without blocking: 1 if queued, 0 if it did not fit (dropped) */
    int (*uart_write)(void *ctx, const uint8_t *data, uint32_t n);
    /* read every sensor as of now_us */
    void (*read_sensors)(void *ctx, uint32_t now_us, rmfw_sensors_t *out);
    /* drive the joints from now_us: OFF (no torque), DAMP (joint damping only), ON (targets in `mode`: position
     * targets with gains kp, kd, or joint torques; already clamped to the joint's limits) */
    void (*apply)(void *ctx, uint32_t now_us, int output, int mode, const float *target, const float *kp, const float *kd);
    void *ctx;
} rmfw_hal_t;

/* What the robot is: sent in HELLO_ACK, used to check and convert every COMMAND. */
typedef struct {
    uint8_t n;                 /* joints */
    uint8_t modes;             /* bit k: runs rmfw_mode k */
    uint16_t rate_hz;          /* control rate */
    uint16_t watchdog_ms;      /* no COMMAND for this long in ARMING/ACTIVE -> FAULT(WATCHDOG) */
    uint32_t arming_us;        /* soft start: measured pose -> default pose */
    char names[RMFW_MAX_JOINTS][RMFW_NAME_MAX + 1];
    float pos_min[RMFW_MAX_JOINTS], pos_max[RMFW_MAX_JOINTS], vel_max[RMFW_MAX_JOINTS], torque_max[RMFW_MAX_JOINTS];
    float default_pose[RMFW_MAX_JOINTS], arm_kp[RMFW_MAX_JOINTS], arm_kd[RMFW_MAX_JOINTS];
    /* version 2 fixed point: the value of one LSB */
    float q_scale[RMFW_MAX_JOINTS], dq_scale[RMFW_MAX_JOINTS], tau_scale[RMFW_MAX_JOINTS];
    float kp_scale[RMFW_MAX_JOINTS], kd_scale[RMFW_MAX_JOINTS];
    float gyro_scale, accel_scale, vel_scale;
} rmfw_config_t;

typedef struct {
    uint32_t frames, crc_errors, cobs_errors, oversize, version_errors, flag_errors, short_frames;
    uint32_t tx_frames, tx_dropped, rx_dropped, commands_applied, arm_requests;
    uint32_t refused[8]; /* frames refused without a latch, by fault code (NOT_ARMED, STALE_SEQ, BAD_LENGTH) */
} rmfw_stats_t;

typedef struct {
    rmfw_config_t cfg;
    rmfw_hal_t hal;
    rmfw_stats_t stats;
    uint8_t version;        /* the session's protocol version (1 until a HELLO says otherwise) */
    uint8_t state, fault;
    uint16_t seq, last_cmd_seq;
    uint8_t accepted_any;   /* a COMMAND was accepted since the last ARM */
    uint8_t overflow;       /* the frame being received grew past RMFW_MAX_ENCODED */
    uint8_t has_fault_us;   /* FAULT was entered at fault_us (diagnostics) */
    uint32_t handled;       /* frames other than COMMAND handled since the last tick */
    uint32_t now_us, last_cmd_us, arm_start_us, fault_us;
    float arm_from[RMFW_MAX_JOINTS];
    uint32_t rx_len;
    uint8_t rx[RMFW_MAX_ENCODED];
    uint8_t body[RMFW_MAX_BODY];
    uint8_t out_body[RMFW_MAX_BODY];
    uint8_t out_wire[RMFW_MAX_ENCODED + 1];
} rmfw_t;

/* 0 when the config is usable, else a negative code naming the first bad field (see rmfw.c). */
int rmfw_init(rmfw_t *fw, const rmfw_config_t *cfg, const rmfw_hal_t *hal);
void rmfw_rx(rmfw_t *fw, const uint8_t *data, uint32_t n, uint32_t rx_us);
void rmfw_tick(rmfw_t *fw, uint32_t now_us);

/* the pieces, for tests and for boards that frame differently */
uint32_t rmfw_crc32c(const uint8_t *data, uint32_t n, uint32_t crc);
uint32_t rmfw_cobs_encode(const uint8_t *in, uint32_t n, uint8_t *out);
int32_t rmfw_cobs_decode(const uint8_t *in, uint32_t n, uint8_t *out, uint32_t cap);
/* one frame's bytes between delimiters -> body length (>= header + CRC) or a negative rmfw_decode_error */
enum rmfw_decode_error { RMFW_E_OVERSIZE = -1, RMFW_E_COBS = -2, RMFW_E_SHORT = -3, RMFW_E_CRC = -4, RMFW_E_VERSION = -5, RMFW_E_FLAGS = -6 };
int32_t rmfw_decode_body(const uint8_t *enc, uint32_t n, uint8_t *body);
size_t rmfw_sizeof(void);

#endif
