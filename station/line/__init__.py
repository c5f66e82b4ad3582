"""The station on a production line: the PLC handshake, its transports and a model runner.

- `signals`: the handshake's signals and the `Transport` interface every link implements.
- `handshake`: the one state machine (trigger, result, ack, recipe, heartbeat, alarms).
- `opcua`, `modbus`: one file per transport. A digital-I/O module would be one more file
  implementing `Transport`, mapping the boolean signals to lines.
- `runner`: a Qt-free `StationPort` that grabs a frame and runs a model for each trigger.
- `monitor`: a record sink feeding drift charts and image retention, raising their alarms.
- `plc_sim`: a simulated PLC (OPC UA or Modbus client) for commissioning and tests.
"""
