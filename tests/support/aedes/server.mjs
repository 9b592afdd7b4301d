// aedes from npm on 127.0.0.1:PORT (argv[2]; 0 picks one): an MQTT 3.1.1 broker that
// answers an MQTT 5 CONNECT with CONNACK 0x01, as aedes 1.x does. Prints "listening PORT".
import { createServer } from 'node:net'
import { Aedes } from 'aedes'

const broker = await Aedes.createBroker()
const server = createServer(broker.handle)
server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`)
})
