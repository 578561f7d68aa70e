package p2p

import (
	"net"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

// gossipScore returns GossipSub's peer-scoring parameters. Scoring must be
// switched on when the router is built for services to attach per-topic
// parameters later (Topic.SetScoreParams). The global part penalises only
// protocol misbehaviour (broken promises, spam of IWANT/GRAFT) and many
// peers behind one public IP address; the thresholds are the ones go-libp2p
// -pubsub's documentation suggests, scaled to these weights.
func gossipScore() (*pubsub.PeerScoreParams, *pubsub.PeerScoreThresholds) {
	var local []*net.IPNet
	for _, cidr := range []string{"127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "fe80::/10"} {
		_, n, err := net.ParseCIDR(cidr)
		if err == nil {
			local = append(local, n)
		}
	}
	params := &pubsub.PeerScoreParams{
		Topics:            map[string]*pubsub.TopicScoreParams{},
		AppSpecificScore:  func(peer.ID) float64 { return 0 },
		AppSpecificWeight: 1,
		// More than 10 peers from one public IP cost each of them
		// 10·(n-10)²; LAN and loopback peers are exempt (many nodes on one
		// machine or behind one home router are normal there).
		IPColocationFactorWeight:    -10,
		IPColocationFactorThreshold: 10,
		IPColocationFactorWhitelist: local,
		BehaviourPenaltyWeight:      -10,
		BehaviourPenaltyThreshold:   6,
		BehaviourPenaltyDecay:       pubsub.ScoreParameterDecay(10 * time.Minute),
		DecayInterval:               time.Second,
		DecayToZero:                 0.01,
		RetainScore:                 10 * time.Minute,
	}
	thresholds := &pubsub.PeerScoreThresholds{
		GossipThreshold:             -500,
		PublishThreshold:            -1000,
		GraylistThreshold:           -2500,
		AcceptPXThreshold:           0,
		OpportunisticGraftThreshold: 5,
	}
	return params, thresholds
}
