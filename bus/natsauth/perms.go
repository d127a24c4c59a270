package natsauth

import (
	"github.com/nats-io/nats-server/v2/server"

	"github.com/pika-dj/pika/bus/cloud"
)

// DJPermissions is what DJ dj may do on the cloud, whose JetStream domain is
// cloudDomain. The same list serves a plain client connection and the DJ
// server's leaf link; on a leaf, "publish" is what the leaf may send into the
// cloud and "subscribe" what it may receive (nats-leaf.md §7).
//
// Everything carries the DJ id, so one DJ's credentials never reach another
// DJ's subjects. The cloud's JetStream API is reachable only through the one
// reset request of the DJ's own downlink consumer; every other
// $JS.<cloud>.API subject (stream delete, stream list, another DJ's
// consumers) has no permission and so, for the DJ, no responder.
//
// $JSC.R.> and $JS.FC.> are shared by every DJ: nats-server names its
// internal sourcing replies and flow-control subjects without the DJ in
// them (unless the js_api_reply_v2 and js_ack_fc_v2 feature flags are on
// everywhere, see docs/cloud.md). A DJ could at worst answer or read
// another DJ's sourcing control messages, which carry no events.
func DJPermissions(dj, cloudDomain string) *server.Permissions {
	deliver := "pika.deliver." + dj // cloud.go's deliver subjects: <deliver>.up.s, .up.a, .down.crowd
	return &server.Permissions{
		Publish: &server.SubjectPermission{Allow: []string{
			// The DJ's own subjects in the cloud: its live tallies
			// (cloud.TallySubject), which no stream captures (the cloud
			// streams source, they capture nothing).
			"pika.dj." + dj + ".>",
			// Uplink: the DJ's durable consumers push DJ_<dj> and ACT_<dj>
			// to the cloud streams that source them.
			deliver + ".up.>",
			// Replies to the cloud's sourcing requests on $JS.<dj>.API, and
			// flow-control replies of the DJ's CROWD_<dj> sourcing.
			"$JSC.R.>",
			"$JS.FC.>",
			// Downlink: the DJ's CROWD_<dj> resets its durable consumer
			// on the cloud's CLOUD_CROWD_<dj>; nothing else of the API.
			"$JS." + cloudDomain + ".API.CONSUMER.RESET." + cloud.CrowdStreamName(dj) + "." + cloud.DownlinkConsumer,
		}},
		Subscribe: &server.SubjectPermission{Allow: []string{
			// The cloud's sourcing of the DJ's streams calls the DJ's API.
			"$JS." + dj + ".API.>",
			"$JSC.R.>",
			"$JS.FC.>",
			// Downlink deliveries of CLOUD_CROWD_<dj>.
			deliver + ".down.>",
			// Dancer actions made in the cloud for this DJ, live.
			cloud.CrowdActionSubject(dj, "*", "*"),
			// Cloud gateways' presence reports of this DJ's sessions: the
			// DJ's owner counts cloud listeners with the LAN's.
			cloud.PresenceFilter(dj),
		}},
	}
}

// jsRead is the JetStream API a cloud reader needs: stream info and
// messages, consumers (ordered, durable, pull), acks and flow control. It
// has no stream create, update, delete or purge, and no account changes.
// NATS wildcards are whole tokens, so "CLOUD_*" cannot be a subject
// pattern: the streams a service may read are every stream of the cloud
// account, which holds only Pika!'s CLOUD_* streams and KV buckets.
var jsRead = []string{
	"$JS.API.INFO",
	"$JS.API.STREAM.NAMES",
	"$JS.API.STREAM.INFO.*",
	"$JS.API.STREAM.MSG.GET.*",
	"$JS.API.DIRECT.GET.>",
	"$JS.API.CONSUMER.CREATE.>",
	"$JS.API.CONSUMER.DURABLE.CREATE.>",
	"$JS.API.CONSUMER.INFO.>",
	"$JS.API.CONSUMER.NAMES.*",
	"$JS.API.CONSUMER.MSG.NEXT.>",
	// nats.go deletes an ordered consumer it replaces or stops; the
	// durable ones that others depend on are denied (jsDeny).
	"$JS.API.CONSUMER.DELETE.*.*",
	"$JS.ACK.>",
	"$JS.FC.>",
}

// jsDeny keeps services from deleting the durable consumers others depend
// on: the DJs' downlinks and the persister's.
var jsDeny = []string{
	"$JS.API.CONSUMER.DELETE.*." + cloud.DownlinkConsumer,
	"$JS.API.CONSUMER.DELETE.*.persister",
}

// GatewayPermissions is what a cloud gateway may do: read the cloud
// streams and KV, store dancer actions on pika.crowd.<dj>.a.…, send its
// presence reports on pika.presence.<dj>.<sid> (to the DJ's owner and the
// other gateways), and read the DJs' tallies (pika.dj.<dj>.t.<sid>). It
// sends no DJ commands (the DJ console is on the LAN) and may not publish
// into pika.dj.>: only a DJ writes there.
func GatewayPermissions() *server.Permissions {
	pub := append([]string{
		cloud.CrowdActionSubject("*", "*", "*"),
		cloud.AllPresence,
	}, jsRead...)
	return &server.Permissions{
		Publish: &server.SubjectPermission{Allow: pub, Deny: append([]string{"pika.dj.>"}, jsDeny...)},
		Subscribe: &server.SubjectPermission{Allow: []string{
			"_INBOX.>", "pika.dj.>", "pika.crowd.>", cloud.AllPresence,
		}},
	}
}

// PersisterPermissions is what the persister may do: durable consumers on
// the cloud streams and their acks. It publishes no events at all.
func PersisterPermissions() *server.Permissions {
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: append([]string(nil), jsRead...), Deny: jsDeny},
		Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
	}
}
