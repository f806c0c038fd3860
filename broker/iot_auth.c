/*
 * The platform's Mosquitto plugin: who a client is, what it may do, and where its messages go.
 *
 * Devices connect as ThingsBoard devices do: the username is the device's access token (any
 * password). Gateways connect with their tenant's ingestion key. The bridge (manage.py
 * mqtt_ingest) connects as "iot-bridge" with its password. The credentials file, written by the
 * platform whenever a credential changes (telemetry/mqtt/credentials.py), holds only SHA-256
 * digests:
 *
 *     d <sha256 of token> <tenant id> <device id>
 *     g <sha256 of key> <tenant id> <key id>
 *     b <username> <sha256 of password>
 *
 * It is re-read within a second of changing; a device whose token is gone is disconnected, and
 * its next CONNECT refused.
 *
 * Topics. A device may publish only on v1/devices/me/telemetry and v1/devices/me/rpc/response/<id>
 * and subscribe only to v1/devices/me/rpc/request/+ (a gateway: v1/gateway/telemetry and
 * v1/gateway/rpc). Its messages are re-addressed before routing: "me" becomes the device
 * (iot/<partition>/t/<tenant>/d/<device>/...; a gateway's iot/<partition>/t/<tenant>/g/<key>/...,
 * the partition the device or key id modulo plugin_opt_partitions, default 16), where only the
 * bridges may subscribe, each to its partitions; retain is cleared. The bridge pushes a command to a device by publishing on
 * iot/rpc/<device id>/<command id>: the plugin hands it to each connection of that device as
 * v1/devices/me/rpc/request/<command id>. Devices coming and going are told to the bridges on
 * iot/presence/<tenant>/<device> ("1" or "0"; all connected devices again when a bridge
 * publishes on iot/rpc/presence), so they know whom to push commands to.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/evp.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#define DIGEST 32

enum kind { DEVICE = 'd', GATEWAY = 'g', BRIDGE = 'b' };

struct credential {
	unsigned char digest[DIGEST];
	char kind;
	long tenant;
	long id; /* device id, or ingestion key id */
	char username[64]; /* the bridge's */
};

struct connection {
	struct mosquitto *client; /* compared, never dereferenced outside a callback */
	char *client_id;
	unsigned char digest[DIGEST];
	char kind;
	long tenant;
	long device;
};

static mosquitto_plugin_id_t *plugin_id;
static long partitions = 16;
static char *credentials_path;
static struct credential *credentials;
static size_t credentials_count;
static time_t loaded_mtime;
static long loaded_mtime_ns;
static time_t last_check;
static struct connection *connections;
static size_t connections_count, connections_size;

static const char DEVICE_PREFIX[] = "v1/devices/me/";
static const char GATEWAY_PREFIX[] = "v1/gateway/";
static const char RPC_PREFIX[] = "iot/rpc/";

static int compare(const void *a, const void *b)
{
	return memcmp(((const struct credential *)a)->digest, ((const struct credential *)b)->digest, DIGEST);
}

static void sha256(const char *text, unsigned char out[DIGEST])
{
	unsigned int length = 0;
	EVP_Digest(text, strlen(text), out, &length, EVP_sha256(), NULL);
}

static int unhex(const char *hex, unsigned char out[DIGEST])
{
	for(int i = 0; i < DIGEST; i++){
		unsigned int byte;
		if(sscanf(hex + 2 * i, "%2x", &byte) != 1) return -1;
		out[i] = (unsigned char)byte;
	}
	return 0;
}

static const struct credential *find(const unsigned char digest[DIGEST])
{
	struct credential key;
	memcpy(key.digest, digest, DIGEST);
	return bsearch(&key, credentials, credentials_count, sizeof(key), compare);
}

/* Read the credentials file whole; on any error keep what was loaded before. */
static void load(void)
{
	FILE *file = fopen(credentials_path, "r");
	if(!file){
		mosquitto_log_printf(MOSQ_LOG_WARNING, "iot_auth: cannot read %s", credentials_path);
		return;
	}
	size_t size = 1024, count = 0;
	struct credential *loaded = malloc(size * sizeof(*loaded));
	char line[512], kind, first[160], second[160], third[160];
	while(loaded && fgets(line, sizeof(line), file)){
		if(line[0] == '#' || line[0] == '\n') continue;
		if(sscanf(line, "%c %159s %159s %159s", &kind, first, second, third) < 3) continue;
		if(count == size){
			struct credential *grown = realloc(loaded, 2 * size * sizeof(*loaded));
			if(!grown){ free(loaded); loaded = NULL; break; }
			loaded = grown;
			size *= 2;
		}
		struct credential *c = &loaded[count];
		memset(c, 0, sizeof(*c));
		c->kind = kind;
		if(kind == BRIDGE){
			snprintf(c->username, sizeof(c->username), "%.63s", first);
			if(unhex(second, c->digest)) continue;
		}else if(kind == DEVICE || kind == GATEWAY){
			if(unhex(first, c->digest)) continue;
			c->tenant = atol(second);
			c->id = atol(third);
		}else{
			continue;
		}
		count++;
	}
	fclose(file);
	if(!loaded){
		mosquitto_log_printf(MOSQ_LOG_ERR, "iot_auth: out of memory reading %s", credentials_path);
		return;
	}
	qsort(loaded, count, sizeof(*loaded), compare);
	free(credentials);
	credentials = loaded;
	credentials_count = count;
	/* whoever lost their credential is disconnected now */
	for(size_t i = 0; i < connections_count; i++){
		if(connections[i].kind != BRIDGE && !find(connections[i].digest)){
			mosquitto_log_printf(MOSQ_LOG_NOTICE, "iot_auth: %s's credential was revoked", connections[i].client_id);
			mosquitto_kick_client_by_clientid(connections[i].client_id, false);
		}
	}
	mosquitto_log_printf(MOSQ_LOG_INFO, "iot_auth: %zu credentials loaded", count);
}

static void reload_if_changed(void)
{
	struct stat st;
	if(stat(credentials_path, &st) != 0) return;
	if(st.st_mtim.tv_sec != loaded_mtime || st.st_mtim.tv_nsec != loaded_mtime_ns){
		loaded_mtime = st.st_mtim.tv_sec;
		loaded_mtime_ns = st.st_mtim.tv_nsec;
		load();
	}
}

/* Who a connected client is: its credential, looked up by its username each time. */
static const struct credential *identity(struct mosquitto *client)
{
	const char *username = mosquitto_client_username(client);
	if(!username) return NULL;
	if(!strcmp(username, "iot-bridge")){
		/* only ever let in with the bridge's password (on_basic_auth) */
		static const struct credential bridge = {.kind = BRIDGE};
		return &bridge;
	}
	unsigned char digest[DIGEST];
	sha256(username, digest);
	return find(digest);
}

/* Tell the bridges a device came or went (iot/presence/<tenant>/<device>: "1" or "0"). */
static void presence(long tenant, long device, const char *state)
{
	char topic[96];
	snprintf(topic, sizeof(topic), "iot/presence/%ld/%ld", tenant, device);
	mosquitto_broker_publish_copy(NULL, topic, 1, state, 1, false, NULL);
}

static int connected(long device, const struct mosquitto *except)
{
	for(size_t i = 0; i < connections_count; i++){
		if(connections[i].kind == DEVICE && connections[i].device == device && connections[i].client != except) return 1;
	}
	return 0;
}

static void remember(struct mosquitto *client, const unsigned char digest[DIGEST], char kind, long tenant, long device)
{
	if(connections_count == connections_size){
		size_t size = connections_size ? 2 * connections_size : 256;
		struct connection *grown = realloc(connections, size * sizeof(*grown));
		if(!grown) return;
		connections = grown;
		connections_size = size;
	}
	struct connection *c = &connections[connections_count++];
	c->client = client;
	c->client_id = strdup(mosquitto_client_id(client) ? mosquitto_client_id(client) : "");
	memcpy(c->digest, digest, DIGEST);
	c->kind = kind;
	c->tenant = tenant;
	c->device = device;
	if(kind == DEVICE) presence(tenant, device, "1");
}

static void forget(struct mosquitto *client)
{
	for(size_t i = 0; i < connections_count; i++){
		if(connections[i].client == client){
			struct connection gone = connections[i];
			connections[i] = connections[--connections_count];
			i--;
			if(gone.kind == DEVICE && !connected(gone.device, client)) presence(gone.tenant, gone.device, "0");
			free(gone.client_id);
		}
	}
}

static int on_basic_auth(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_basic_auth *ed = event_data;
	(void)event; (void)userdata;
	reload_if_changed();
	if(!ed->username) return MOSQ_ERR_AUTH;
	unsigned char digest[DIGEST];
	if(!strcmp(ed->username, "iot-bridge")){
		if(!ed->password) return MOSQ_ERR_AUTH;
		sha256(ed->password, digest);
		for(size_t i = 0; i < credentials_count; i++){
			if(credentials[i].kind == BRIDGE && !strcmp(credentials[i].username, ed->username)
					&& !memcmp(credentials[i].digest, digest, DIGEST)){
				forget(ed->client);
				remember(ed->client, digest, BRIDGE, 0, 0);
				return MOSQ_ERR_SUCCESS;
			}
		}
		return MOSQ_ERR_AUTH;
	}
	sha256(ed->username, digest);
	const struct credential *c = find(digest);
	if(!c || c->kind == BRIDGE) return MOSQ_ERR_AUTH;
	forget(ed->client);
	remember(ed->client, digest, c->kind, c->tenant, c->kind == DEVICE ? c->id : 0);
	return MOSQ_ERR_SUCCESS;
}

static int starts(const char *text, const char *prefix)
{
	return !strncmp(text, prefix, strlen(prefix));
}

static int on_acl_check(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_acl_check *ed = event_data;
	(void)event; (void)userdata;
	const struct credential *c = identity(ed->client);
	if(!c) return MOSQ_ERR_ACL_DENIED;
	const char *t = ed->topic;
	if(ed->access == MOSQ_ACL_UNSUBSCRIBE) return MOSQ_ERR_SUCCESS;
	if(c->kind == BRIDGE){
		if(ed->access == MOSQ_ACL_WRITE) return starts(t, RPC_PREFIX) ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
		return starts(t, "iot/") ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
	}
	if(c->kind == DEVICE){
		switch(ed->access){
			case MOSQ_ACL_WRITE:
				return !strcmp(t, "v1/devices/me/telemetry") || starts(t, "v1/devices/me/rpc/response/")
					? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
			case MOSQ_ACL_SUBSCRIBE: /* what ThingsBoard's device SDKs subscribe to on connecting */
				return !strcmp(t, "v1/devices/me/rpc/request/+") || !strcmp(t, "v1/devices/me/rpc/response/+")
					|| !strcmp(t, "v1/devices/me/attributes") || !strcmp(t, "v1/devices/me/attributes/response/+")
					? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
			default: /* READ: only ever what the plugin hands it */
				return starts(t, DEVICE_PREFIX) ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
		}
	}
	switch(ed->access){ /* a gateway */
		case MOSQ_ACL_WRITE:
			return !strcmp(t, "v1/gateway/telemetry") ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
		case MOSQ_ACL_SUBSCRIBE:
			return !strcmp(t, "v1/gateway/rpc") ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
		default:
			return !strcmp(t, "v1/gateway/rpc") ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
	}
}

/* Hand a command the bridge published on iot/rpc/<device>/<id> to that device's connections. */
static int push_command(struct mosquitto_evt_message *ed)
{
	const char *rest = ed->topic + strlen(RPC_PREFIX);
	if(!strcmp(rest, "presence")){ /* a bridge (re)starting asks who is connected */
		for(size_t i = 0; i < connections_count; i++){
			if(connections[i].kind == DEVICE) presence(connections[i].tenant, connections[i].device, "1");
		}
		return MOSQ_ERR_SUCCESS;
	}
	char *end;
	long device = strtol(rest, &end, 10);
	if(end == rest || *end != '/' || !end[1]) return MOSQ_ERR_ACL_DENIED;
	char topic[160];
	snprintf(topic, sizeof(topic), "v1/devices/me/rpc/request/%s", end + 1);
	for(size_t i = 0; i < connections_count; i++){
		if(connections[i].kind == DEVICE && connections[i].device == device){
			mosquitto_broker_publish_copy(connections[i].client_id, topic, (int)ed->payloadlen, ed->payload, 1, false, NULL);
		}
	}
	return MOSQ_ERR_SUCCESS;
}

static int on_message(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_message *ed = event_data;
	(void)event; (void)userdata;
	const struct credential *c = identity(ed->client);
	if(!c) return MOSQ_ERR_ACL_DENIED;
	if(c->kind == BRIDGE) return starts(ed->topic, RPC_PREFIX) ? push_command(ed) : MOSQ_ERR_SUCCESS;
	char topic[256];
	long partition = c->id % partitions;
	if(c->kind == DEVICE && starts(ed->topic, DEVICE_PREFIX)){
		snprintf(topic, sizeof(topic), "iot/%ld/t/%ld/d/%ld/%s", partition, c->tenant, c->id, ed->topic + strlen(DEVICE_PREFIX));
	}else if(c->kind == GATEWAY && starts(ed->topic, GATEWAY_PREFIX)){
		snprintf(topic, sizeof(topic), "iot/%ld/t/%ld/g/%ld/%s", partition, c->tenant, c->id, ed->topic + strlen(GATEWAY_PREFIX));
	}else{
		return MOSQ_ERR_ACL_DENIED;
	}
	char *moved = mosquitto_strdup(topic);
	if(!moved) return MOSQ_ERR_NOMEM;
#if LIBMOSQUITTO_VERSION_NUMBER < 2000015
	/* Up to 2.0.14 the broker takes the new topic without freeing the one it replaces; from
	 * 2.0.15 it frees that itself, and freeing it here as well would free it twice. The
	 * headers are the broker's own version (scripts/broker.sh checks). */
	mosquitto_free(ed->topic);
#endif
	ed->topic = moved;
	ed->retain = false;
	return MOSQ_ERR_SUCCESS;
}

static int on_tick(int event, void *event_data, void *userdata)
{
	(void)event; (void)event_data; (void)userdata;
	time_t now = time(NULL);
	if(now != last_check){
		last_check = now;
		reload_if_changed();
	}
	return MOSQ_ERR_SUCCESS;
}

static int on_disconnect(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_disconnect *ed = event_data;
	(void)event; (void)userdata;
	forget(ed->client);
	return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
	for(int i = 0; i < supported_version_count; i++){
		if(supported_versions[i] == 5) return 5;
	}
	return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata, struct mosquitto_opt *options, int option_count)
{
	(void)userdata;
	plugin_id = identifier;
	for(int i = 0; i < option_count; i++){
		if(!strcmp(options[i].key, "credentials_file")) credentials_path = strdup(options[i].value);
		if(!strcmp(options[i].key, "partitions")) partitions = atol(options[i].value);
	}
	if(partitions < 1) partitions = 1;
	if(!credentials_path){
		mosquitto_log_printf(MOSQ_LOG_ERR, "iot_auth: plugin_opt_credentials_file is required");
		return MOSQ_ERR_INVAL;
	}
	reload_if_changed();
	mosquitto_callback_register(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL, NULL);
	mosquitto_callback_register(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL, NULL);
	mosquitto_callback_register(plugin_id, MOSQ_EVT_MESSAGE, on_message, NULL, NULL);
	mosquitto_callback_register(plugin_id, MOSQ_EVT_TICK, on_tick, NULL, NULL);
	mosquitto_callback_register(plugin_id, MOSQ_EVT_DISCONNECT, on_disconnect, NULL, NULL);
	return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count)
{
	(void)userdata; (void)options; (void)option_count;
	mosquitto_callback_unregister(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
	mosquitto_callback_unregister(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL);
	mosquitto_callback_unregister(plugin_id, MOSQ_EVT_MESSAGE, on_message, NULL);
	mosquitto_callback_unregister(plugin_id, MOSQ_EVT_TICK, on_tick, NULL);
	mosquitto_callback_unregister(plugin_id, MOSQ_EVT_DISCONNECT, on_disconnect, NULL);
	for(size_t i = 0; i < connections_count; i++) free(connections[i].client_id);
	free(connections);
	free(credentials);
	free(credentials_path);
	return MOSQ_ERR_SUCCESS;
}
