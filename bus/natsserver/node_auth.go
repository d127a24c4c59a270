package natsserver

// Connected reports whether the client or leaf connection id is open on
// this server; with Disconnect it lets an authenticator (bus/natsauth)
// close the connections of credentials revoked after they connected.
func (s *Server) Connected(id uint64) bool {
	return s.ns.GetClient(id) != nil || s.ns.GetLeafNode(id) != nil
}

// Disconnect closes the client or leaf connection id.
func (s *Server) Disconnect(id uint64) error {
	return s.ns.DisconnectClientByID(id)
}
